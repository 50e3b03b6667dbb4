// Package crashfs is the crash harness tidemark's storage tests share: a
// vfs.FS over pebble's crashable in-memory file system that counts every
// mutating operation and, at operation k, either fails it or "crashes" —
// takes a CrashClone of what a power cut would leave and fails every later
// operation, as a dead process would. A test runs its workload once to
// count the operations, then once per k, and reopens the clone. The redo
// log, the pack volume and the backup catalog's Pebble
// (backup's TestCrashCatalogAtEveryWrite) run under it.
package crashfs

import (
	"errors"
	"math/rand/v2"
	"os"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrInjected is returned by the operation a test chose to fail and by
// every operation after a crash.
var ErrInjected = errors.New("crashfs: injected fault")

// FS is the fault-injecting file system. Set the exported fields before
// the workload runs (or under Lock for FailSyncAt).
type FS struct {
	vfs.FS
	mem *vfs.MemFS

	mu sync.Mutex
	// CrashAt is the 1-based operation that crashes; 0: never.
	CrashAt int
	// Torn makes the crash land half of a write in progress first and keep
	// UnsyncedPercent of the unsynced data in the clone (a real disk may
	// keep any of it, in any order).
	Torn bool
	// UnsyncedPercent is the share of unsynced data a torn crash keeps.
	// Default 100.
	UnsyncedPercent int
	// Seed seeds the choice of which unsynced blocks a torn crash keeps.
	Seed uint64
	// FailSyncAt fails the n-th file sync (1-based) without crashing; 0:
	// never.
	FailSyncAt int

	ops, syncs int
	crashed    *vfs.MemFS
}

// New returns a crash harness over a fresh crashable memory file system.
func New() *FS {
	m := vfs.NewCrashableMem()
	return &FS{FS: m, mem: m}
}

// Ops returns the number of mutating operations so far.
func (f *FS) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// Syncs returns the number of file syncs so far.
func (f *FS) Syncs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs
}

// SetFailSyncAt sets FailSyncAt while a workload may be running.
func (f *FS) SetFailSyncAt(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.FailSyncAt = n
}

// Crashed returns what the crash left, or nil if it has not happened.
func (f *FS) Crashed() *vfs.MemFS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// op is called before every mutating operation; partial, if not nil,
// performs the half write of a torn crash.
func (f *FS) op(isSync bool, partial func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed != nil {
		return ErrInjected
	}
	f.ops++
	if isSync {
		f.syncs++
		if f.syncs == f.FailSyncAt {
			return ErrInjected
		}
	}
	if f.ops == f.CrashAt {
		cfg := vfs.CrashCloneCfg{}
		if f.Torn {
			if partial != nil {
				partial()
			}
			pct := f.UnsyncedPercent
			if pct == 0 {
				pct = 100
			}
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(f.Seed, 7))}
		}
		f.crashed = f.mem.CrashClone(cfg)
		return ErrInjected
	}
	return nil
}

// Create implements vfs.FS.
func (f *FS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.op(false, nil); err != nil {
		return nil, err
	}
	return f.wrap(f.FS.Create(name, c))
}

// OpenReadWrite implements vfs.FS; it counts as a mutation, since it
// creates a missing file.
func (f *FS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	if err := f.op(false, nil); err != nil {
		return nil, err
	}
	return f.wrap(f.FS.OpenReadWrite(name, c, o...))
}

// OpenDir implements vfs.FS.
func (f *FS) OpenDir(name string) (vfs.File, error) {
	return f.wrap(f.FS.OpenDir(name))
}

// Rename implements vfs.FS.
func (f *FS) Rename(a, b string) error {
	if err := f.op(false, nil); err != nil {
		return err
	}
	return f.FS.Rename(a, b)
}

// Remove implements vfs.FS.
func (f *FS) Remove(name string) error {
	if err := f.op(false, nil); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

// MkdirAll implements vfs.FS.
func (f *FS) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.op(false, nil); err != nil {
		return err
	}
	return f.FS.MkdirAll(dir, perm)
}

func (f *FS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	vfs.File
	fs *FS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.op(false, func() { _, _ = f.File.Write(p[:len(p)/2]) }); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.op(false, func() { _, _ = f.File.WriteAt(p[:len(p)/2], off) }); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.op(true, nil); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) SyncData() error { return f.Sync() }

var _ vfs.FS = (*FS)(nil)
