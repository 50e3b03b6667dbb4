package packvol

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

// The volumes under testdata/ are frozen: packs written by earlier builds
// (version 1 before sync marks, version 2 with them, both under the magic
// "TMPK" that packs carried before they had one of their own). -update
// rewrites them from the generators below; do that only on purpose, since
// their point is to prove that an existing volume still opens.
var (
	update    = flag.Bool("update", false, "regenerate hsm/packvol/testdata fixtures")
	updateOne = flag.String("update-one", "", "regenerate only this hsm/packvol/testdata fixture")
)

// fixtureVal is the content of object name in the fixtures.
func fixtureVal(name string, size int) []byte {
	h := sha256.Sum256([]byte(name))
	return bytes.Repeat(h[:], size/32+1)[:size]
}

// fixtureOp is one step of a fixture: a put of size bytes, or a delete
// (size < 0).
type fixtureOp struct {
	name string
	size int
}

var fixtureOps = []fixtureOp{
	{"blobs/aa/one", 300}, {"blobs/bb/two", 2000}, {"blobs/cc/three", 10},
	{"blobs/aa/one", 700}, // replaced
	{"blobs/dd/large", 5000},
	{"blobs/bb/two", -1}, // deleted
	{"blobs/ee/four", 1500}, {"blobs/ff/empty", 0}, {"log/x", 900},
}

// fixtureOpsOf returns the steps of fixture name: fixtureOps, and for
// "ckpt2" message blobs too (so that its checkpoint has blob records).
func fixtureOpsOf(name string) []fixtureOp {
	if name != "ckpt2" {
		return fixtureOps
	}
	ops := slices.Clone(fixtureOps)
	for i := range 200 {
		ops = append(ops, fixtureOp{blobName(i), 40 + i})
		if i%9 == 4 {
			ops = append(ops, fixtureOp{blobName(i / 2), -1})
		}
	}
	return ops
}

// fixtureWant is what a volume holds after ops.
func fixtureWant(ops []fixtureOp) map[string][]byte {
	want := map[string][]byte{}
	for _, op := range ops {
		if op.size < 0 {
			delete(want, op.name)
		} else {
			want[op.name] = fixtureVal(op.name, op.size)
		}
	}
	return want
}

var fixtureTime = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

var packFixtures = map[string]func(t *testing.T, dir string){
	// Version 2, as New writes it: 4 KiB packs (so several roll), objects
	// over 4 KiB in large/, sync marks from SyncDeferred, and the index
	// checkpoint Close writes (version 1 when it was frozen).
	"v2": func(t *testing.T, dir string) { writeFixture(t, dir, fixtureOps) },
	// The same with message blobs, and a version 2 index checkpoint.
	"ckpt2": func(t *testing.T, dir string) { writeFixture(t, dir, fixtureOpsOf("ckpt2")) },
	// Version 1: packs written before sync marks and checkpoints, two
	// packs, nothing large.
	"v1": func(t *testing.T, dir string) {
		var packs [][]byte
		cur := legacyHeader(1, packVersionV1)
		for _, op := range fixtureOps {
			if len(cur) > 3000 {
				packs = append(packs, cur)
				cur = legacyHeader(uint64(len(packs)+1), packVersionV1)
			}
			if op.size < 0 {
				cur = appendEntry(cur, kindTombstone, op.name, nil, fixtureTime.UnixNano())
			} else {
				cur = appendEntry(cur, kindPut, op.name, fixtureVal(op.name, op.size), fixtureTime.UnixNano())
			}
		}
		packs = append(packs, cur)
		if err := os.MkdirAll(filepath.Join(dir, PacksDir), 0o755); err != nil {
			t.Fatal(err)
		}
		for i, p := range packs {
			if err := os.WriteFile(filepath.Join(dir, PacksDir, packName(uint64(i+1))), p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	},
}

// writeFixture runs ops on a new volume in dir as New writes it and
// closes it.
func writeFixture(t *testing.T, dir string, ops []fixtureOp) {
	v, err := New(vfs.Default, dir, &Options{SmallMax: 4096, PackSize: 4096, Logger: quiet,
		Now: func() time.Time { return fixtureTime }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, op := range ops {
		if op.size < 0 {
			err = v.Delete(ctx, op.name)
		} else {
			b := fixtureVal(op.name, op.size)
			err = v.PutDeferred(ctx, op.name, bytes.NewReader(b), int64(len(b)))
		}
		if err == nil && i%3 == 2 {
			err = v.SyncDeferred(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkRewritten opens a fixture again after checkFixture closed it:
// Close wrote a version 2 checkpoint, whatever version it found, and New
// opens from it with every object there.
func checkRewritten(t *testing.T, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, CheckpointFile))
	if err != nil || len(b) < 10 || binary.LittleEndian.Uint16(b[8:]) != ckptVersion2 {
		t.Fatalf("Close wrote no version 2 checkpoint: %v", err)
	}
	v, err := New(vfs.Default, dir, &Options{SmallMax: 4096, PackSize: 4096, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.index.file == nil || v.index.delta.len() != 0 {
		t.Fatal("not opened from the rewritten checkpoint alone")
	}
	want := fixtureWant(fixtureOpsOf(name))
	want["new/one"] = fixtureVal("new/one", 100)
	for n, w := range want {
		expect(t, v, n, w)
	}
	if got := listAll(t, v); len(got) != len(want) {
		t.Fatalf("lists %d objects, want %d", len(got), len(want))
	}
}

// legacyHeader is a pack header under the magic packs had before
// "TMPV".
func legacyHeader(seq uint64, version uint16) []byte {
	b := make([]byte, packHeaderSize)
	copy(b, "TMPK")
	binary.LittleEndian.PutUint16(b[4:], version)
	binary.LittleEndian.PutUint64(b[8:], seq)
	return b
}

// TestFixtures opens each frozen volume (with its index checkpoint, if
// any, and by the full scan without it) and reads every object back.
func TestFixtures(t *testing.T) {
	names := make([]string, 0, len(packFixtures))
	for n := range packFixtures {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		src := filepath.Join("testdata", name)
		if *update || *updateOne == name {
			if err := os.RemoveAll(src); err != nil {
				t.Fatal(err)
			}
			packFixtures[name](t, src)
		}
		for _, ckpt := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/checkpoint=%v", name, ckpt), func(t *testing.T) {
				dir := copyTree(t, src)
				if !ckpt {
					if err := os.Remove(filepath.Join(dir, CheckpointFile)); err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
				}
				checkFixture(t, dir, name, ckpt)
				checkRewritten(t, dir, name)
			})
		}
	}
}

func checkFixture(t *testing.T, dir, name string, ckpt bool) {
	ctx := context.Background()
	if name == "ckpt2" && ckpt {
		b, err := os.ReadFile(filepath.Join(dir, CheckpointFile))
		if err != nil || len(b) < 10 || binary.LittleEndian.Uint16(b[8:]) != ckptVersion2 {
			t.Fatalf("fixture's checkpoint is not version 2: %v", err)
		}
	}
	v, err := New(vfs.Default, dir, &Options{SmallMax: 4096, PackSize: 4096, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if name == "ckpt2" && ckpt && (v.index.file == nil || len(v.index.file.fence) < 2) {
		t.Fatal("fixture not opened from its version 2 checkpoint of several blocks")
	}
	want := fixtureWant(fixtureOpsOf(name))
	got := map[string]bool{}
	if err := v.List(ctx, "", func(o hsm.ObjectInfo) error {
		got[o.Name] = true
		if w, ok := want[o.Name]; !ok || o.Size != int64(len(w)) {
			t.Errorf("listed %s (%d bytes), want %d bytes (present %v)", o.Name, o.Size, len(w), ok)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if !got[name] {
			t.Errorf("%s not listed", name)
		}
		rc, err := v.Get(ctx, name)
		if err != nil {
			t.Errorf("get %s: %v", name, err)
			continue
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, w) {
			t.Errorf("get %s: %d bytes, %v; want %d bytes", name, len(b), err, len(w))
		}
	}
	if _, err := v.Stat(ctx, "blobs/bb/two"); !hsm.IsNotFound(err) {
		t.Errorf("deleted object: %v", err)
	}
	// The volume takes new writes beside the old packs.
	mustPut(t, v, "new/one", fixtureVal("new/one", 100))
	expect(t, v, "new/one", fixtureVal("new/one", 100))
	packs, err := filepath.Glob(filepath.Join(dir, PacksDir, "*.pack"))
	if err != nil || len(packs) == 0 {
		t.Fatal(packs, err)
	}
	sort.Strings(packs)
	for i, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		wantMagic := legacyMagic
		if i == len(packs)-1 || name == "ckpt2" {
			wantMagic = packMagic // the pack this handle started
		}
		if string(b[:4]) != wantMagic {
			t.Errorf("%s starts with %q, want %q", p, b[:4], wantMagic)
		}
	}
}

// TestMagicVersions: the new magic goes with version 2 only; the legacy
// one with 1 and 2.
func TestMagicVersions(t *testing.T) {
	for _, c := range []struct {
		magic   string
		version uint16
		ok      bool
	}{{packMagic, 2, true}, {packMagic, 1, false}, {legacyMagic, 1, true}, {legacyMagic, 2, true}, {legacyMagic, 3, false}, {"TMBP", 1, false}} {
		h := legacyHeader(7, c.version)
		copy(h, c.magic)
		if _, err := checkHeader(h, 7); (err == nil) != c.ok {
			t.Errorf("%s version %d: %v", c.magic, c.version, err)
		}
	}
}

// copyTree copies a fixture into a temporary directory, so that opening
// it (which may start a pack or rewrite the checkpoint) leaves testdata
// alone.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}
