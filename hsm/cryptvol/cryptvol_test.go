package cryptvol_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/cryptvol"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/memvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
	"github.com/tidemark/tidemark/hsm/volumetest"
	"github.com/tidemark/tidemark/internal/corrupt"
)

const chunk = 64 << 10

func key(seed byte) []byte { return bytes.Repeat([]byte{seed}, cryptvol.MasterKeySize) }

func wrap(t testing.TB, v hsm.Volume, k []byte) hsm.Volume {
	t.Helper()
	cv, err := cryptvol.New(v, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cv
}

func TestConformanceLocal(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		v, err := localvol.New(vfs.Default, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cv := wrap(t, v, key(1))
		if _, ok := cv.(hsm.DeferredSyncer); !ok {
			t.Fatal("a local volume lost its deferred syncs under encryption")
		}
		return cv
	})
}

func TestConformanceS3(t *testing.T) {
	srv := s3test.StartServer(t)
	var n atomic.Int64
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		o := srv.Options()
		o.Prefix = fmt.Sprintf("crypt%d", n.Add(1))
		v, err := s3vol.New(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		return wrap(t, v, key(2))
	})
}

func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustPut(t *testing.T, v hsm.Volume, name string, b []byte) {
	t.Helper()
	if err := hsm.PutBytes(context.Background(), v, name, b); err != nil {
		t.Fatal(err)
	}
}

func readRange(v hsm.Volume, name string, off, length int64) ([]byte, error) {
	rc, err := v.GetRange(context.Background(), name, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func expectCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	if !corrupt.Is(err) || !errors.Is(err, cryptvol.ErrCorrupt) || !hsm.IsPermanent(err) {
		t.Fatalf("%s: error %v is not permanent corruption", what, err)
	}
}

// TestStoredPlaintextHidden: the stored bytes contain no run of the
// plaintext, and the stored size is the documented layout's.
func TestStoredPlaintextHidden(t *testing.T) {
	base := memvol.New(nil)
	v := wrap(t, base, key(1))
	data := bytes.Repeat([]byte("Subject: secret mail\r\n"), 10000) // 3 chunks and a bit
	mustPut(t, v, "log/seg", data)
	raw, err := hsm.ReadAll(context.Background(), base, "log/seg")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("secret")) {
		t.Fatal("plaintext visible in the stored object")
	}
	k := (len(data) + chunk - 1) / chunk
	if want := 8 + len(data) + 40*k; len(raw) != want {
		t.Fatalf("stored %d bytes, layout says %d", len(raw), want)
	}
}

// TestRangeAcrossChunks compares ranges at and around chunk boundaries
// with the plaintext, and counts that a range reads only its chunks.
func TestRangeAcrossChunks(t *testing.T) {
	base := memvol.New(nil)
	v := wrap(t, base, key(1))
	for _, size := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3*chunk + 17} {
		name := fmt.Sprintf("p/%d", size)
		data := payload(uint64(size), size)
		mustPut(t, v, name, data)
		fi, err := v.Stat(context.Background(), name)
		if err != nil || fi.Size != int64(size) {
			t.Fatalf("stat %s: %+v %v", name, fi, err)
		}
		for _, off := range []int{0, 1, chunk - 1, chunk, chunk + 1, 2*chunk + 5, size - 1, size} {
			if off < 0 || off > size {
				continue
			}
			for _, l := range []int{-1, 0, 1, 2, chunk, chunk + 2} {
				got, err := readRange(v, name, int64(off), int64(l))
				if err != nil {
					t.Fatalf("%s %d+%d: %v", name, off, l, err)
				}
				end := size
				if l >= 0 && off+l < size {
					end = off + l
				}
				if !bytes.Equal(got, data[off:end]) {
					t.Fatalf("%s %d+%d: wrong bytes", name, off, l)
				}
			}
		}
	}
}

// TestRangeReadsOnlyItsChunks: a range inside chunk 2 of a damaged object
// whose chunk 0 is broken still reads (the range never touches it), while
// one that covers chunk 0 fails.
func TestRangeReadsOnlyItsChunks(t *testing.T) {
	base := memvol.New(nil)
	v := wrap(t, base, key(1))
	data := payload(7, 4*chunk)
	mustPut(t, v, "packs/a", data)
	raw, _ := hsm.ReadAll(context.Background(), base, "packs/a")
	raw[8+40] ^= 1 // first byte of chunk 0's ciphertext
	mustPut(t, base, "packs/a", raw)
	got, err := readRange(v, "packs/a", 2*chunk+10, 100)
	if err != nil || !bytes.Equal(got, data[2*chunk+10:2*chunk+110]) {
		t.Fatalf("range in an intact chunk: %v", err)
	}
	_, err = readRange(v, "packs/a", 10, 100)
	expectCorrupt(t, "range in the damaged chunk", err)
}

// TestTamperEveryByte flips each byte of a sealed object (one spanning two
// chunks, sampled) and requires Get, and a GetRange over the whole object,
// to fail as corruption without handing out unauthenticated bytes.
func TestTamperEveryByte(t *testing.T) {
	base := memvol.New(nil)
	v := wrap(t, base, key(1))
	data := payload(9, chunk+300)
	mustPut(t, v, "o", data)
	raw, _ := hsm.ReadAll(context.Background(), base, "o")
	for i := 0; i < len(raw); i += 1 + i/64 {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x40
		mustPut(t, base, "o", bad)
		got, err := hsm.ReadAll(context.Background(), v, "o")
		expectCorrupt(t, fmt.Sprintf("byte %d flipped (get)", i), err)
		if len(got) > 0 {
			t.Fatalf("byte %d flipped: %d bytes handed out", i, len(got))
		}
		_, err = readRange(v, "o", 0, -1)
		expectCorrupt(t, fmt.Sprintf("byte %d flipped (range)", i), err)
	}
}

// TestForged covers the forgeries an attacker with write access but no
// key can make from genuine objects.
func TestForged(t *testing.T) {
	ctx := context.Background()
	base := memvol.New(nil)
	v := wrap(t, base, key(1))
	data := payload(11, 3*chunk+100)
	mustPut(t, v, "log/a", data)
	mustPut(t, v, "log/b", payload(12, 3*chunk+100))
	rawA, _ := hsm.ReadAll(ctx, base, "log/a")
	rawB, _ := hsm.ReadAll(ctx, base, "log/b")
	mustPut(t, v, "log/a", payload(13, 3*chunk+100)) // a second version of a
	rawA2, _ := hsm.ReadAll(ctx, base, "log/a")
	const sc = chunk + 40
	forgeries := map[string][]byte{
		"another object's bytes":     rawB,
		"cut at a chunk boundary":    rawA[:8+2*sc],
		"cut inside a chunk":         rawA[:8+2*sc+500],
		"cut to the header":          rawA[:8],
		"empty":                      {},
		"bytes appended":             append(bytes.Clone(rawA), 0),
		"a chunk appended":           append(bytes.Clone(rawA), rawA[8:8+sc]...),
		"chunks swapped":             concat(rawA[:8], rawA[8+sc:8+2*sc], rawA[8:8+sc], rawA[8+2*sc:]),
		"chunk from another version": concat(rawA[:8+sc], rawA2[8+sc:8+2*sc], rawA[8+2*sc:]),
		"plaintext":                  data,
		"header changed":             concat([]byte("TMCRYPT\x02"), rawA[8:]),
	}
	for what, b := range forgeries {
		mustPut(t, base, "log/a", b)
		_, err := hsm.ReadAll(ctx, v, "log/a")
		expectCorrupt(t, what+" (get)", err)
		_, err = readRange(v, "log/a", 0, -1)
		expectCorrupt(t, what+" (range)", err)
	}
	// Under another key nothing opens.
	mustPut(t, base, "log/a", rawA)
	_, err := hsm.ReadAll(ctx, wrap(t, base, key(3)), "log/a")
	expectCorrupt(t, "another key", err)
	if got, err := hsm.ReadAll(ctx, v, "log/a"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("genuine object after forgeries: %v", err)
	}
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestPlainNames: Options.Plain names pass through unchanged.
func TestPlainNames(t *testing.T) {
	base := memvol.New(nil)
	v, err := cryptvol.New(base, key(1), &cryptvol.Options{Plain: func(n string) bool { return n == "manifest.json" }})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, v, "manifest.json", []byte(`{"a":1}`))
	raw, _ := hsm.ReadAll(context.Background(), base, "manifest.json")
	if string(raw) != `{"a":1}` {
		t.Fatalf("plain object stored as %q", raw)
	}
}

// TestRetryRewind: a Put retried by hsm.WithRetry after the first attempt
// failed half-way stores an object that opens.
func TestRetryRewind(t *testing.T) {
	base := hsm.NewFaulty(memvol.New(nil))
	rv := hsm.WithRetry(base, hsm.RetryOptions{Sleep: func(context.Context, time.Duration) error { return nil }})
	v := wrap(t, rv, key(1))
	data := payload(5, 2*chunk+1)
	base.FailNext("put", 1, errors.New("connection reset"))
	mustPut(t, v, "r", data)
	if got, err := hsm.ReadAll(context.Background(), v, "r"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after a retried put: %v", err)
	}
	if base.Calls("put") != 2 {
		t.Fatalf("put calls %d, want 2", base.Calls("put"))
	}
}

// TestSizeMismatch: a reader yielding another count than announced stores
// nothing.
func TestSizeMismatch(t *testing.T) {
	v := wrap(t, memvol.New(nil), key(1))
	for _, n := range []int{10, chunk + 5} {
		err := v.Put(context.Background(), "m", bytes.NewReader(make([]byte, n)), int64(n+1))
		if !errors.Is(err, hsm.ErrSizeMismatch) {
			t.Fatalf("short reader: %v", err)
		}
		err = v.Put(context.Background(), "m", bytes.NewReader(make([]byte, n)), int64(n-1))
		if !errors.Is(err, hsm.ErrSizeMismatch) {
			t.Fatalf("long reader: %v", err)
		}
	}
	if _, err := v.Stat(context.Background(), "m"); !hsm.IsNotFound(err) {
		t.Fatalf("stat after failed puts: %v", err)
	}
}
