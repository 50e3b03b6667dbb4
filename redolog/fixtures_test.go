package redolog

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The fixtures under testdata/ are frozen on-disk logs. -update regenerates
// them from the generators below; do that only on purpose, since their point
// is to prove that logs written by an earlier build stay readable.
var update = flag.Bool("update", false, "regenerate redolog/testdata fixtures")

// fixtures maps a testdata directory to the generator that produced it.
var fixtures = map[string]func(t *testing.T, fs *vfs.MemFS){
	// Records 1-3 sealed in archive/, 4-6 in the active segment, then half
	// of record 7: the tail a crash during a write leaves.
	"torn-tail": func(t *testing.T, fs *vfs.MemFS) {
		l := mustOpen(t, "/log", testOpts(fs))
		appendN(t, l, 3)
		if err := l.Seal(); err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 6)
		l.Close()
		rec := AppendRecord(nil, Record{LSN: 7, Time: fixedClock()().UnixNano() + 6, Type: 1, Payload: payloadFor(7)})
		appendBytes(t, fs, "/log/"+segmentName(4), rec[:len(rec)-5])
	},
	// Records 1-6 in the active segment, one payload byte of record 3
	// flipped: damage to acknowledged data, which recovery must refuse.
	"corrupt-middle": func(t *testing.T, fs *vfs.MemFS) {
		l := mustOpen(t, "/log", testOpts(fs))
		appendN(t, l, 6)
		l.Close()
		b, err := fs.UnsafeGetFileDataBuffer("/log/" + segmentName(1))
		if err != nil {
			t.Fatal(err)
		}
		b[headerSizeV1+2*(RecordOverhead+len(payloadFor(1)))+RecordOverhead+2] ^= 0x20
	},
	// A recorded gap (segment format version 2): records 1-3 sealed, a gap
	// segment for LSNs 4-6, records 7-8 in the active segment.
	"gap": func(t *testing.T, fs *vfs.MemFS) {
		l := mustOpen(t, "/log", testOpts(fs))
		appendN(t, l, 3)
		if _, err := l.AcceptGap(6, "fixture: records 4-6 lost"); err != nil {
			t.Fatal(err)
		}
		for i := 7; i <= 8; i++ {
			if _, _, err := l.Append(uint16(i%7), payloadFor(i)); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
	},
	// Format version 0: 8-byte segment headers. Records 1-3 sealed, 4-5
	// active.
	"v0": func(t *testing.T, fs *vfs.MemFS) {
		base := fixedClock()().UnixNano()
		seg := func(path string, from, to int) {
			b := []byte("TMRL\x00\x00\x00\x00")
			for i := from; i <= to; i++ {
				b = AppendRecord(b, Record{LSN: uint64(i), Time: base + int64(i), Type: uint16(i % 7), Payload: payloadFor(i)})
			}
			if err := fs.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			appendBytes(t, fs, path, b)
		}
		seg("/log/archive/"+segmentName(1), 1, 3)
		seg("/log/"+segmentName(4), 4, 5)
	},
}

func appendBytes(t *testing.T, fs vfs.FS, path string, b []byte) {
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if _, err := f.WriteAt(b, st.Size()); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// loadFixture copies testdata/<name> into a fresh MemFS at /log, so tests
// can open it for write without touching the frozen files.
func loadFixture(t testing.TB, name string) *vfs.MemFS {
	fs := vfs.NewMem()
	root := filepath.Join("testdata", name)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		dst := filepath.Join("/log", rel)
		if d.IsDir() {
			return fs.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := fs.Create(dst, vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		return errors.Join(err, f.Close())
	})
	if err != nil {
		t.Fatalf("load fixture %s: %v", name, err)
	}
	return fs
}

func TestGenerateFixtures(t *testing.T) {
	if !*update {
		t.Skip("fixtures are frozen; run with -update to regenerate")
	}
	for name, gen := range fixtures {
		fs := vfs.NewMem()
		gen(t, fs)
		dir := filepath.Join("testdata", name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for _, sub := range []string{"", archiveDir} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
			names, _ := fs.List(filepath.Join("/log", sub))
			for _, n := range names {
				if _, ok := parseSegmentName(n); !ok {
					continue
				}
				b, err := fs.UnsafeGetFileDataBuffer(filepath.Join("/log", sub, n))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, sub, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestFixtureTornTail(t *testing.T) {
	fs := loadFixture(t, "torn-tail")
	rep, err := Verify(fs, "/log")
	if err != nil || rep.TornTail == "" || rep.Records != 6 || rep.Segments != 2 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	r, err := ReadDir(fs, "/log", 0)
	if err != nil {
		t.Fatal(err)
	}
	checkDense(t, readAllRecords(t, r), 1)
	var logged bytes.Buffer
	o := testOpts(fs)
	o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	l := mustOpen(t, "/log", o)
	defer l.Close()
	if l.LastLSN() != 6 || !strings.Contains(logged.String(), "torn tail") {
		t.Fatalf("recovered last lsn %d, log %q", l.LastLSN(), logged.String())
	}
	appendN(t, l, 8)
	r, _ = l.NewReader(1)
	recs := readAllRecords(t, r)
	checkDense(t, recs, 1)
	if len(recs) != 8 {
		t.Fatalf("%d records", len(recs))
	}
}

func TestFixtureCorruptMiddle(t *testing.T) {
	fs := loadFixture(t, "corrupt-middle")
	off := headerSizeV1 + 2*(RecordOverhead+len(payloadFor(1)))
	wantLoc := segmentName(1) + " offset " + strconv.Itoa(off) + ":"
	_, err := Open("/log", testOpts(fs))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), wantLoc) {
		t.Fatalf("open: %v, want ErrCorrupt at %q", err, wantLoc)
	}
	rep, err := Verify(fs, "/log")
	if !errors.Is(err, ErrCorrupt) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], wantLoc) {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	r, _ := ReadDir(fs, "/log", 0)
	defer r.Close()
	for i := 1; i <= 2; i++ {
		if _, err := r.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read record 3: %v", err)
	}
}

func TestFixtureFormatV0(t *testing.T) {
	fs := loadFixture(t, "v0")
	rep, err := Verify(fs, "/log")
	if err != nil || rep.Records != 5 || rep.FirstLSN != 1 || rep.LastLSN != 5 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	r, _ := ReadDir(fs, "/log", 2)
	checkDense(t, readAllRecords(t, r), 2)
	l := mustOpen(t, "/log", testOpts(fs))
	defer l.Close()
	appendN(t, l, 7) // new records go to a version 1 segment after the v0 ones
	r, _ = l.NewReader(0)
	recs := readAllRecords(t, r)
	checkDense(t, recs, 1)
	if len(recs) != 7 {
		t.Fatalf("%d records", len(recs))
	}
	if h, err := readHeader(fs, "/log/archive/"+segmentName(4)); err != nil || h.version != 0 {
		t.Fatalf("sealed v0 segment header: %+v %v", h, err)
	}
}

func TestFixtureGap(t *testing.T) {
	fs := loadFixture(t, "gap")
	rep, err := Verify(fs, "/log")
	if err != nil || rep.Records != 5 || rep.LastLSN != 8 || len(rep.Gaps) != 1 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	if g := rep.Gaps[0]; g.From != 4 || g.To != 6 || g.Reason != "fixture: records 4-6 lost" {
		t.Fatalf("gap %+v", g)
	}
	if h, err := readHeader(fs, "/log/archive/"+segmentName(4)); err != nil || h.version != gapFormatVersion || !h.gap {
		t.Fatalf("gap segment header: %+v %v", h, err)
	}
	l := mustOpen(t, "/log", testOpts(fs))
	defer l.Close()
	if l.LastLSN() != 8 {
		t.Fatalf("last lsn %d", l.LastLSN())
	}
	if _, err := l.NewReader(5); !errors.Is(err, ErrGap) {
		t.Fatalf("reader inside the gap: %v", err)
	}
	appendN(t, l, 10)
	r, _ := l.NewReader(0)
	recs, gaps := readWithGaps(t, r)
	checkGapped(t, recs, gaps)
	if len(recs) != 7 || len(gaps) != 1 || recs[len(recs)-1].LSN != 10 {
		t.Fatalf("%d records, gaps %+v", len(recs), gaps)
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to the record and header decoders:
// they must never panic, and whatever decodes must re-encode to the same
// bytes.
func FuzzDecodeRecord(f *testing.F) {
	for _, name := range []string{"torn-tail", "corrupt-middle", "v0", "gap"} {
		for _, sub := range []string{"", archiveDir} {
			dir := filepath.Join("testdata", name, sub)
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.IsDir() {
					continue
				}
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
				if h, err := parseHeader(b); err == nil {
					f.Add(b[h.size:])
				}
			}
		}
	}
	f.Add(AppendRecord(nil, Record{LSN: 1, Time: 2, Type: 3, Payload: []byte("x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseHeader(b)
		r, n, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		if n > len(b) || !bytes.Equal(AppendRecord(nil, r), b[:n]) {
			t.Fatalf("decoded %+v (n=%d) does not re-encode to its input", r, n)
		}
		_ = scanSegment(b, "fuzz", 1, 0)
		_ = validAfter(b, 0)
	})
}
