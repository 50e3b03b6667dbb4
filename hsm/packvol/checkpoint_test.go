package packvol

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

func dropCheckpoint(t *testing.T, vfsys vfs.FS, dir string) {
	t.Helper()
	if err := vfsys.Remove(vfsys.PathJoin(dir, CheckpointFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// sameVolume fails unless a and b hold the same index, packs (size and
// live bytes), Stats and List.
func sameVolume(t *testing.T, a, b *Volume, label string) {
	t.Helper()
	if ia, ib := indexMap(a.index), indexMap(b.index); !maps.Equal(ia, ib) {
		for name, l := range ia {
			if ib[name] != l {
				t.Fatalf("%s: index %q: %+v vs %+v", label, name, l, ib[name])
			}
		}
		t.Fatalf("%s: index sizes %d vs %d", label, len(ia), len(ib))
	}
	if len(a.packs) != len(b.packs) {
		t.Fatalf("%s: %d packs vs %d", label, len(a.packs), len(b.packs))
	}
	for seq, p := range a.packs {
		q := b.packs[seq]
		if q == nil || p.size != q.size || p.live != q.live {
			t.Fatalf("%s: pack %d: %+v vs %+v", label, seq, *p, q)
		}
	}
	if a.Stats() != b.Stats() {
		t.Fatalf("%s: stats %+v vs %+v", label, a.Stats(), b.Stats())
	}
	if la, lb := listAll(t, a), listAll(t, b); !slices.Equal(la, lb) {
		t.Fatalf("%s: list %v vs %v", label, la, lb)
	}
}

// TestCheckpointMatchesFullScan runs puts, replacements, deletes, rolls
// and compactions with checkpoints in between and, after every sync,
// opens the durable state once from the checkpoint and once by the full
// scan: both must equal each other and the live handle.
func TestCheckpointMatchesFullScan(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	mfs := vfs.NewCrashableMem()
	o := &Options{SmallMax: 1500, PackSize: 4096, Logger: quiet}
	v := newVol(t, mfs, "/vol", o)
	checkpoints, compared := 0, 0
	for i := range 600 {
		name := mixedName(rng.IntN(40)) // message blob and other names
		switch r := rng.IntN(100); {
		case r < 45:
			b := body(i, 50+rng.IntN(700))
			if err := v.PutDeferred(ctx, name, bytes.NewReader(b), int64(len(b))); err != nil {
				t.Fatal(err)
			}
		case r < 55:
			mustPut(t, v, name, body(i, 1000+rng.IntN(1000))) // some large
		case r < 70:
			if err := v.Delete(ctx, name); err != nil && !errors.Is(err, hsm.ErrNotFound) {
				t.Fatal(err)
			}
		case r < 75:
			if _, err := v.Compact(ctx, rng.Float64()*0.6); err != nil {
				t.Fatal(err)
			}
		case r < 78:
			rollNow(t, v)
		case r < 88:
			if err := v.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			checkpoints++
		default:
			if err := v.SyncDeferred(ctx); err != nil {
				t.Fatal(err)
			}
			if checkpoints == 0 {
				continue
			}
			withCkpt := newVol(t, mfs.CrashClone(vfs.CrashCloneCfg{}), "/vol", o)
			scanFS := mfs.CrashClone(vfs.CrashCloneCfg{})
			dropCheckpoint(t, scanFS, "/vol")
			full := newVol(t, scanFS, "/vol", o)
			label := fmt.Sprintf("step %d", i)
			sameVolume(t, withCkpt, full, label)
			sameVolume(t, full, withCkpt, label)
			// The live handle holds the same objects (its packs differ:
			// the reopened ones started a new pack, dropped empty ones).
			if !maps.Equal(indexMap(v.index), indexMap(full.index)) || v.Stats().LiveBytes != full.Stats().LiveBytes {
				t.Fatalf("%s: reopened index differs from the live handle", label)
			}
			withCkpt.Close()
			full.Close()
			compared++
		}
	}
	if compared < 20 || checkpoints < 20 {
		t.Fatalf("only %d comparisons after %d checkpoints", compared, checkpoints)
	}
}

// TestCheckpointScansOnlyTail: a checkpointed volume opens reading only
// the bytes after the checkpoint; damage inside covered bytes is not read
// at open (reads verify every entry's checksum), damage after it is.
func TestCheckpointScansOnlyTail(t *testing.T) {
	mfs := vfs.NewMem()
	v := newVol(t, mfs, "/vol", &Options{Logger: quiet})
	mustPut(t, v, "a", val("a"))
	if err := v.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustPut(t, v, "b", val("b"))
	off := offsets(v, "a", "b")
	path := v.packPath(1)
	v.Close()
	// Close checkpointed a and b: damage a, which no open reads again.
	v2 := newVol(t, mfs, "/vol", &Options{Logger: quiet})
	expect(t, v2, "b", val("b"))
	data := readFile(t, mfs, path)
	data[off["a"]+30] ^= 1
	writeFile(t, mfs, path, data)
	v3 := newVol(t, mfs, "/vol", &Options{Logger: quiet})
	if _, err := hsm.ReadAll(context.Background(), v3, "a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of damaged covered entry: %v, want ErrCorrupt", err)
	}
	expect(t, v3, "b", val("b"))
}

// TestCheckpointFallback: a corrupt, truncated, unknown-version or
// mismatched checkpoint makes New scan every pack, with a warning, and
// open exactly what the full scan opens.
func TestCheckpointFallback(t *testing.T) {
	ctx := context.Background()
	build := func() vfs.FS {
		mfs := vfs.NewMem()
		var tick int64
		now := func() time.Time { tick++; return time.Unix(0, tick) }
		v, err := New(mfs, "/vol", &Options{PackSize: 4096, Logger: quiet, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			mustPut(t, v, fmt.Sprintf("f/%02d", i%25), body(i, 300))
			if i%9 == 0 {
				if err := v.Delete(ctx, fmt.Sprintf("f/%02d", i%7)); err != nil && !errors.Is(err, hsm.ErrNotFound) {
					t.Fatal(err)
				}
			}
		}
		// Message blobs: three blocks of blob records.
		for i := range 200 {
			b := body(i, 60)
			if err := v.PutDeferred(ctx, blobName(i), bytes.NewReader(b), int64(len(b))); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		return mfs
	}
	ckpt := "/vol/" + CheckpointFile
	reseal := func(b []byte) { binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli)) }
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, mfs vfs.FS)
		reason string
	}{
		{"bit flip", func(t *testing.T, mfs vfs.FS) {
			b := readFile(t, mfs, ckpt)
			b[len(b)/2] ^= 0x10
			writeFile(t, mfs, ckpt, b)
		}, "checksum mismatch"},
		{"truncated", func(t *testing.T, mfs vfs.FS) {
			b := readFile(t, mfs, ckpt)
			writeFile(t, mfs, ckpt, b[:len(b)-7])
		}, "bad footer"},
		{"bit flip in a block", func(t *testing.T, mfs vfs.FS) {
			b := readFile(t, mfs, ckpt)
			b[len(b)-ckptFooter-ckptBlock+100] ^= 0x01 // the last block
			writeFile(t, mfs, ckpt, b)
		}, "block 2: checksum mismatch"},
		{"version 1 bit flip", func(t *testing.T, mfs vfs.FS) {
			b := readFile(t, mfs, ckpt)
			b = toV1(t, mfs, b)
			b[len(b)/2] ^= 0x10
			writeFile(t, mfs, ckpt, b)
		}, "checksum mismatch"},
		{"unknown version", func(t *testing.T, mfs vfs.FS) {
			b := readFile(t, mfs, ckpt)
			binary.LittleEndian.PutUint16(b[8:], 99)
			reseal(b)
			writeFile(t, mfs, ckpt, b)
		}, "unknown version 99"},
		{"pack shorter than covered", func(t *testing.T, mfs vfs.FS) {
			b := readFile(t, mfs, ckpt)
			le := binary.LittleEndian
			if le.Uint64(b[ckptHeader2:]) != 1 {
				t.Fatalf("first pack record is of pack %d", le.Uint64(b[ckptHeader2:]))
			}
			le.PutUint64(b[ckptHeader2+8:], le.Uint64(b[ckptHeader2+8:])+5)
			resealV2(b)
			writeFile(t, mfs, ckpt, b)
		}, "checkpoint covers"},
		{"version 1 pack shorter than covered", func(t *testing.T, mfs vfs.FS) {
			c, err := decodeCheckpoint(toV1(t, mfs, readFile(t, mfs, ckpt)))
			if err != nil {
				t.Fatal(err)
			}
			pk := c.packs[1]
			pk.covered += 5
			c.packs[1] = pk
			writeFile(t, mfs, ckpt, c.encode())
		}, "checkpoint covers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mfs := build()
			c.damage(t, mfs)
			var log bytes.Buffer
			got := newVol(t, mfs, "/vol", &Options{PackSize: 4096, Logger: slog.New(slog.NewTextHandler(&log, nil))})
			if !strings.Contains(log.String(), "scanning every pack") || !strings.Contains(log.String(), c.reason) {
				t.Fatalf("warning %q lacks the fallback and %q", log.String(), c.reason)
			}
			ref := build()
			dropCheckpoint(t, ref, "/vol")
			sameVolume(t, got, newVol(t, ref, "/vol", &Options{PackSize: 4096, Logger: quiet}), c.name)
		})
	}
}

// resealV2 recomputes the head and whole-file checksums of a version 2
// checkpoint after a test changed it.
func resealV2(b []byte) {
	le := binary.LittleEndian
	foot := b[len(b)-ckptFooter:]
	le.PutUint32(foot[4:], crc32.Checksum(b[:le.Uint64(foot[24:])], castagnoli))
	le.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
}

// toV1 returns the version 1 encoding of a version 2 checkpoint.
func toV1(t *testing.T, mfs vfs.FS, b []byte) []byte {
	t.Helper()
	writeFile(t, mfs, "/v2.tmp", b)
	f, err := mfs.Open("/v2.tmp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := readCheckpointFile(f)
	if err != nil {
		t.Fatal(err)
	}
	x := newMemIndex(0, 0)
	if err := c.file.withPrefix("", func(name string, l loc) { x.put(name, l) }); err != nil {
		t.Fatal(err)
	}
	return (&checkpoint{packs: c.packs, index: x}).encode()
}

// BenchmarkOpen opens a volume of 50,000 message blobs of 4 KB on disk,
// from the checkpoint Close wrote and by the full scan.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	o := &Options{Logger: quiet}
	path, ckpt := fillOnDisk(b, dir, o, 50000, 4000)
	var err error
	for _, withCkpt := range []bool{true, false} {
		b.Run(fmt.Sprintf("checkpoint=%v", withCkpt), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if withCkpt {
					err = os.WriteFile(path, ckpt, 0o644)
				} else {
					err = os.Remove(path)
				}
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				v, err := New(vfs.Default, dir, o)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if v.Stats().Objects != 50000 {
					b.Fatalf("%d objects", v.Stats().Objects)
				}
				_ = v.Close()
				b.StartTimer()
			}
		})
	}
}

// fillOnDisk stores n message blobs of size bytes in a volume on disk in
// dir, opened with o, closes it and returns its checkpoint file's path
// and the bytes Close wrote there.
func fillOnDisk(b *testing.B, dir string, o *Options, n, size int) (string, []byte) {
	b.Helper()
	v, err := New(vfs.Default, dir, o)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	msg := bytes.Repeat([]byte("x"), size)
	for i := range n {
		if err := v.PutDeferred(ctx, blobName(i), bytes.NewReader(msg), int64(len(msg))); err != nil {
			b.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		b.Fatal(err)
	}
	path := vfs.Default.PathJoin(dir, CheckpointFile)
	ckpt, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, ckpt
}
