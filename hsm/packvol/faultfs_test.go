package packvol

import (
	"errors"
	"math/rand/v2"
	"os"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

var errInjected = errors.New("injected fault")

// faultFS wraps a crashable MemFS, counts every mutating operation (create,
// write, sync, rename, remove, mkdir) and at operation crashAt "crashes":
// it takes a CrashClone of what a power cut would leave and fails every
// later operation as a dead process would. With torn set, a write at the
// crash point lands half its bytes first and the clone keeps a random share
// of unsynced data, as a real disk can.
type faultFS struct {
	vfs.FS
	mem *vfs.MemFS

	mu      sync.Mutex
	ops     int
	crashAt int // 0: never
	torn    bool
	seed    uint64
	crashed *vfs.MemFS
}

func newFaultFS(crashAt int, torn bool, seed uint64) *faultFS {
	m := vfs.NewCrashableMem()
	return &faultFS{FS: m, mem: m, crashAt: crashAt, torn: torn, seed: seed}
}

func (f *faultFS) op(partial func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed != nil {
		return errInjected
	}
	f.ops++
	if f.ops == f.crashAt {
		cfg := vfs.CrashCloneCfg{}
		if f.torn {
			if partial != nil {
				partial()
			}
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(f.seed, 7))}
		}
		f.crashed = f.mem.CrashClone(cfg)
		return errInjected
	}
	return nil
}

func (f *faultFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.op(nil); err != nil {
		return nil, err
	}
	file, err := f.FS.Create(name, c)
	return f.wrap(file, err)
}

func (f *faultFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	if err := f.op(nil); err != nil {
		return nil, err
	}
	file, err := f.FS.OpenReadWrite(name, c, o...)
	return f.wrap(file, err)
}

func (f *faultFS) OpenDir(name string) (vfs.File, error) {
	file, err := f.FS.OpenDir(name)
	return f.wrap(file, err)
}

func (f *faultFS) Rename(a, b string) error {
	if err := f.op(nil); err != nil {
		return err
	}
	return f.FS.Rename(a, b)
}

func (f *faultFS) Remove(name string) error {
	if err := f.op(nil); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

func (f *faultFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.op(nil); err != nil {
		return err
	}
	return f.FS.MkdirAll(dir, perm)
}

func (f *faultFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	vfs.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.op(func() { _, _ = f.File.Write(p[:len(p)/2]) }); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.op(func() { _, _ = f.File.WriteAt(p[:len(p)/2], off) }); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.op(nil); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) SyncData() error { return f.Sync() }

var _ vfs.FS = (*faultFS)(nil)
