package packvol

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

func val(name string) []byte { return []byte(strings.Repeat(name, 200)) }

func putDeferred(t *testing.T, v *Volume, name string) {
	t.Helper()
	b := val(name)
	if err := v.PutDeferred(context.Background(), name, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func syncDeferred(t *testing.T, v *Volume) {
	t.Helper()
	if err := v.SyncDeferred(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// offsets returns where each named entry sits in the newest pack.
func offsets(v *Volume, names ...string) map[string]int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	m := map[string]int64{}
	for _, n := range names {
		l, _, _ := v.index.get(n)
		m[n] = l.off
	}
	return m
}

func absent(t *testing.T, v *Volume, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := v.Stat(context.Background(), n); !errors.Is(err, hsm.ErrNotFound) {
			t.Fatalf("%s: %v, want not found", n, err)
		}
	}
}

func zero(b []byte, from, to int64) {
	clear(b[from:to])
}

// TestHoleAfterSync: the bytes after the last sync persisted out of order,
// leaving zeros before valid entries. New cuts the pack at the hole, keeps
// every synced entry, drops the unsynced ones after the hole and warns.
func TestHoleAfterSync(t *testing.T) {
	for _, at := range []string{"mark", "c", "d"} {
		t.Run(at, func(t *testing.T) {
			fs := vfs.NewMem()
			v := newVol(t, fs, "/vol", &Options{Logger: quiet})
			mustPut(t, v, "a", val("a"))
			putDeferred(t, v, "b")
			syncDeferred(t, v)
			putDeferred(t, v, "c") // preceded by a mark claiming a and b
			putDeferred(t, v, "d")
			putDeferred(t, v, "e")
			off := offsets(v, "a", "b", "c", "d", "e")
			path := v.packPath(1)
			v.Close()
			dropCheckpoint(t, fs, "/vol") // the full scan judges the damage

			data := readFile(t, fs, path)
			hole := map[string]int64{"mark": off["c"] - markSize, "c": off["c"], "d": off["d"]}[at]
			zero(data, hole, off["e"]) // e stays whole after the hole
			writeFile(t, fs, path, data)

			var log bytes.Buffer
			v2 := newVol(t, fs, "/vol", &Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
			expect(t, v2, "a", val("a"))
			expect(t, v2, "b", val("b"))
			if at == "d" {
				expect(t, v2, "c", val("c"))
			} else {
				absent(t, v2, "c")
			}
			absent(t, v2, "d", "e")
			if got := int64(len(readFile(t, fs, path))); got != hole {
				t.Fatalf("pack is %d bytes after recovery, want %d", got, hole)
			}
			want := fmt.Sprintf("dropped_bytes=%d", int64(len(data))-hole)
			if !strings.Contains(log.String(), "truncated torn tail") || !strings.Contains(log.String(), want) {
				t.Fatalf("warning %q lacks %s", log.String(), want)
			}
			mustPut(t, v2, "f", val("f"))
			v2.Close()
			v3 := newVol(t, fs, "/vol", &Options{Logger: quiet})
			expect(t, v3, "b", val("b"))
			expect(t, v3, "f", val("f"))
		})
	}
}

// TestDamageInSyncedData: bad bytes that an fsync covered, with valid
// entries after them, stay corruption whether flipped or zeroed, also when
// only Close recorded the last fsync.
func TestDamageInSyncedData(t *testing.T) {
	for _, c := range []struct {
		name  string
		zero  bool
		close bool // no append after the last sync: Close writes the mark
	}{{"flip", false, false}, {"zeros", true, false}, {"flip/close mark", false, true}, {"zeros/close mark", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			fs := vfs.NewMem()
			v := newVol(t, fs, "/vol", &Options{Logger: quiet})
			mustPut(t, v, "a", val("a"))
			putDeferred(t, v, "b")
			putDeferred(t, v, "c")
			syncDeferred(t, v)
			if !c.close {
				putDeferred(t, v, "d")
			}
			off := offsets(v, "b", "c")
			path := v.packPath(1)
			v.Close()
			dropCheckpoint(t, fs, "/vol") // the full scan judges the damage
			data := readFile(t, fs, path)
			if c.zero {
				zero(data, off["b"], off["c"])
			} else {
				data[off["b"]+30] ^= 0x40
			}
			writeFile(t, fs, path, data)
			_, err := New(fs, "/vol", &Options{Logger: quiet})
			want := fmt.Sprintf("offset %d", off["b"])
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
				t.Fatalf("damage in synced data: %v; want ErrCorrupt naming %s and %s", err, path, want)
			}
		})
	}
}

// v1Pack builds a pack as written before sync marks: version 1, no marks.
func v1Pack(entries ...string) ([]byte, []int64) {
	b := legacyHeader(1, packVersionV1)
	var offs []int64
	for _, n := range entries {
		offs = append(offs, int64(len(b)))
		b = appendEntry(b, kindPut, n, val(n), 1)
	}
	return b, offs
}

// TestVersion1Pack: a pack written before sync marks opens under the rule
// it was written with, and the handle appends to a new version 2 pack.
func TestVersion1Pack(t *testing.T) {
	open := func(t *testing.T, data []byte) (*Volume, vfs.FS, error) {
		fs := vfs.NewMem()
		if err := fs.MkdirAll("/vol/packs", 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fs, "/vol/packs/"+packName(1), data)
		v, err := New(fs, "/vol", &Options{Logger: quiet})
		if err == nil {
			t.Cleanup(func() { _ = v.Close() })
		}
		return v, fs, err
	}
	whole, offs := v1Pack("a", "b", "c")
	v, fs, err := open(t, whole)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, v, "c", val("c"))
	mustPut(t, v, "d", val("d"))
	if got := readFile(t, fs, v.packPath(2)); binary.LittleEndian.Uint16(got[4:]) != packVersion {
		t.Fatalf("new pack has version %d", binary.LittleEndian.Uint16(got[4:]))
	}

	torn := bytes.Clone(whole[:offs[2]+7])
	v, _, err = open(t, torn)
	if err != nil {
		t.Fatalf("torn tail of a version 1 pack: %v", err)
	}
	expect(t, v, "b", val("b"))
	absent(t, v, "c")

	hole := bytes.Clone(whole)
	zero(hole, offs[1], offs[2])
	if _, _, err := open(t, hole); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", offs[1])) {
		t.Fatalf("hole before a valid entry in a version 1 pack: %v, want ErrCorrupt (no marks to tell)", err)
	}

	marked := appendMark(bytes.Clone(whole), 1, offs[2], 1)
	if _, _, err := open(t, append(marked, appendEntry(nil, kindPut, "z", val("z"), 1)...)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("sync mark in a version 1 pack: %v", err)
	}
}

// TestMarkChecks: marks of another pack or claiming bytes past themselves
// are bad entries, and they do not make a hole count as synced.
func TestMarkChecks(t *testing.T) {
	base := append(packHeader(1), appendEntry(nil, kindPut, "a", val("a"), 1)...)
	end := int64(len(base))
	for _, c := range []struct {
		name string
		mark func(off int64) []byte // the mark to place at off
	}{
		{"other pack", func(int64) []byte { return appendMark(nil, 2, end, 1) }},
		{"claims past itself", func(off int64) []byte { return appendMark(nil, 1, off+1, 1) }},
		{"claims less than a header", func(int64) []byte { return appendMark(nil, 1, 3, 1) }},
	} {
		r := scanPack(append(bytes.Clone(base), c.mark(end)...), 1)
		if !errors.Is(r.err, ErrCorrupt) || r.end != end {
			t.Fatalf("%s: scan %v at %d", c.name, r.err, r.end)
		}
		// After a hole such a mark claims nothing.
		hole := append(bytes.Clone(base), make([]byte, 40)...)
		hole = append(hole, c.mark(int64(len(hole)))...)
		if a := scanAfter(hole, end, 1); !a.valid || a.synced != 0 {
			t.Fatalf("%s: scanAfter %+v", c.name, a)
		}
	}
	good := append(bytes.Clone(base), appendMark(nil, 1, end, 1)...)
	if r := scanPack(good, 1); r.err != nil || r.marks != 1 || len(r.entries) != 1 {
		t.Fatalf("good mark: %+v", r)
	}
}

// TestMarksAreDead: marks count as dead bytes and Compact does not copy
// them.
func TestMarksAreDead(t *testing.T) {
	fs := vfs.NewMem()
	v := newVol(t, fs, "/vol", &Options{Logger: quiet})
	for _, n := range []string{"a", "b", "c"} {
		mustPut(t, v, n, val(n)) // b and c each follow a mark
	}
	st := v.Stats()
	if dead := st.PackBytes - packHeaderSize - st.LiveBytes; dead != 2*markSize {
		t.Fatalf("dead bytes %d, want two marks (%d): %+v", dead, 2*markSize, st)
	}
	rollNow(t, v)
	cs, err := v.Compact(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * entrySize("a", 200); cs.Packs != 1 || cs.CopiedBytes != want {
		t.Fatalf("compact %+v, want 1 pack and %d bytes copied", cs, want)
	}
	for _, n := range []string{"a", "b", "c"} {
		expect(t, v, n, val(n))
	}
}
