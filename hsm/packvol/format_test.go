package packvol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

func readFile(t *testing.T, fs vfs.FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, fs vfs.FS, path string, b []byte) {
	t.Helper()
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	// Clone: MemFS scrambles the buffer it was given under -race
	// (pebble's invariants build), and callers reuse theirs.
	if _, err := f.Write(bytes.Clone(b)); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// threeEntries writes a volume whose pack 1 holds a, b, c and returns the
// pack's path and the offsets of the three entries.
func threeEntries(t *testing.T, fs vfs.FS) (string, []int64) {
	v, err := New(fs, "/vol", &Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		mustPut(t, v, n, []byte(strings.Repeat(n, 100)))
	}
	v.Close()
	dropCheckpoint(t, fs, "/vol") // the tests judge the full scan
	path := "/vol/packs/" + packName(1)
	r := scanPack(readFile(t, fs, path), 1)
	if r.err != nil || len(r.entries) != 3 {
		t.Fatalf("scan: %d entries, %v", len(r.entries), r.err)
	}
	return path, []int64{r.entries[0].off, r.entries[1].off, r.entries[2].off}
}

func TestTornTail(t *testing.T) {
	for _, cut := range []int64{1, 10, 50, 119} {
		fs := vfs.NewMem()
		path, offs := threeEntries(t, fs)
		data := readFile(t, fs, path)
		writeFile(t, fs, path, data[:offs[2]+cut])
		v := newVol(t, fs, "/vol", &Options{Logger: quiet})
		expect(t, v, "a", []byte(strings.Repeat("a", 100)))
		expect(t, v, "b", []byte(strings.Repeat("b", 100)))
		if _, err := v.Stat(context.Background(), "c"); !errors.Is(err, hsm.ErrNotFound) {
			t.Fatalf("cut %d: torn entry c: %v", cut, err)
		}
		if got := int64(len(readFile(t, fs, path))); got != offs[2] {
			t.Fatalf("cut %d: pack is %d bytes after recovery, want %d", cut, got, offs[2])
		}
	}
}

func TestCorruptMiddle(t *testing.T) {
	fs := vfs.NewMem()
	path, offs := threeEntries(t, fs)
	data := readFile(t, fs, path)
	data[offs[1]+30] ^= 0xff // inside b's name/data: c is still valid after it
	writeFile(t, fs, path, data)
	_, err := New(fs, "/vol", &Options{Logger: quiet})
	want := fmt.Sprintf("offset %d", offs[1])
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
		t.Fatalf("corrupt middle: %v; want ErrCorrupt naming %s and %s", err, path, want)
	}
}

// TestCorruptOlderPack: a bad tail in a pack that is not the newest is
// corruption, not a torn write.
func TestCorruptOlderPack(t *testing.T) {
	fs := vfs.NewMem()
	path, offs := threeEntries(t, fs)
	v := newVol(t, fs, "/vol", nil) // starts pack 2
	mustPut(t, v, "d", []byte("d"))
	v.Close()
	dropCheckpoint(t, fs, "/vol")
	data := readFile(t, fs, path)
	writeFile(t, fs, path, data[:offs[2]+5])
	if _, err := New(fs, "/vol", nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("torn older pack: %v", err)
	}
}

// TestReadDetectsCorruption flips a data byte after open: the read fails
// with a permanent ErrCorrupt instead of returning wrong bytes.
func TestReadDetectsCorruption(t *testing.T) {
	fs := vfs.NewMem()
	v := newVol(t, fs, "/vol", nil)
	mustPut(t, v, "a", []byte(strings.Repeat("a", 100)))
	l := getLoc(v, "a")
	f, err := fs.OpenReadWrite(v.packPath(l.seq), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), l.off+l.n-1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = hsm.ReadAll(context.Background(), v, "a")
	if !errors.Is(err, ErrCorrupt) || !hsm.IsPermanent(err) {
		t.Fatalf("read of a corrupt entry: %v", err)
	}
}

// FuzzOpenPack opens a volume whose only pack holds arbitrary bytes: New
// either fails with an error or opens a volume whose every listed object
// reads back; it never panics.
func FuzzOpenPack(f *testing.F) {
	valid := append(packHeader(1), appendEntry(nil, kindPut, "a/b", []byte("hello"), 1)...)
	valid = appendEntry(valid, kindTombstone, "a/b", nil, 2)
	valid = appendMark(valid, 1, int64(len(valid)), 3)
	valid = appendEntry(valid, kindPut, "c", bytes.Repeat([]byte{7}, 300), 3)
	f.Add(valid)
	hole := bytes.Clone(valid)
	clear(hole[packHeaderSize+5 : packHeaderSize+30])
	f.Add(hole)
	f.Add(valid[:len(valid)-7])
	f.Add(packHeader(1))
	f.Add([]byte("TMPK"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = scanPack(data, 1)
		if r := scanPack(data, 1); r.err != nil {
			_ = tornOrCorrupt(data, 1, true, r)
		}
		fs := vfs.NewMem()
		if err := fs.MkdirAll("/vol/packs", 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fs, "/vol/packs/"+packName(1), data)
		v, err := New(fs, "/vol", &Options{Logger: quiet})
		if err != nil {
			return
		}
		defer v.Close()
		for _, name := range listAll(t, v) {
			if _, err := hsm.ReadAll(context.Background(), v, name); err != nil {
				t.Fatalf("listed %q unreadable: %v", name, err)
			}
		}
	})
}
