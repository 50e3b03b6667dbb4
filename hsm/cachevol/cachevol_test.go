package cachevol_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/cachevol"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/memvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
	"github.com/tidemark/tidemark/hsm/volumetest"
)

func newCache(t *testing.T, remote hsm.Volume, dir string, max int64) *cachevol.Volume {
	t.Helper()
	lv, err := localvol.New(vfs.Default, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cachevol.New(t.Context(), remote, lv, max)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConformance(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume { return newCache(t, memvol.New(nil), t.TempDir(), 1<<20) })
	// A bound so small that most objects are never cached.
	volumetest.Run(t, func(t *testing.T) hsm.Volume { return newCache(t, memvol.New(nil), t.TempDir(), 64) })
}

// TestConformanceS3: as the server opens an S3 volume: s3vol on a real S3
// server (versitygw), every call with a deadline, behind the read cache.
func TestConformanceS3(t *testing.T) {
	srv := s3test.StartServer(t)
	var n atomic.Int64
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		o := srv.Options()
		o.Prefix = fmt.Sprintf("cached%d", n.Add(1))
		v, err := s3vol.New(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		return newCache(t, hsm.WithRetry(v, hsm.RetryOptions{MaxAttempts: 3, CallTimeout: 30 * time.Second}), t.TempDir(), 8<<20)
	})
}

// down fails every read when off.
type down struct {
	hsm.Volume
	off   atomic.Bool
	reads atomic.Int64
}

var errDown = hsm.Temporary(errors.New("remote down"))

func (d *down) GetRange(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	d.reads.Add(1)
	if d.off.Load() {
		return nil, errDown
	}
	return d.Volume.GetRange(ctx, name, off, n)
}

func (d *down) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return d.GetRange(ctx, name, 0, -1)
}

func TestCacheHitsEvictionAndRestart(t *testing.T) {
	ctx := t.Context()
	remote := &down{Volume: memvol.New(nil)}
	dir := t.TempDir()
	v := newCache(t, remote, dir, 4000)
	obj := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 900) }
	for i := range 6 {
		if err := hsm.PutBytes(ctx, v, fmt.Sprintf("blobs/%d", i), obj(i)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(i int) ([]byte, error) { return hsm.ReadAll(ctx, v, fmt.Sprintf("blobs/%d", i)) }
	for i := range 6 {
		if b, err := read(i); err != nil || !bytes.Equal(b, obj(i)) {
			t.Fatalf("cold read %d: %v", i, err)
		}
	}
	hits, misses, size := v.Stats()
	if hits != 0 || misses != 6 || size > 4000 || size != 4*900 {
		t.Fatalf("after cold reads: hits %d misses %d size %d", hits, misses, size)
	}
	// The four most recent (2..5) are cached: they read with the remote down.
	remote.off.Store(true)
	for i := 2; i < 6; i++ {
		if b, err := read(i); err != nil || !bytes.Equal(b, obj(i)) {
			t.Fatalf("warm read %d with the remote down: %v", i, err)
		}
	}
	rc, err := v.GetRange(ctx, "blobs/3", 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(part, obj(3)[10:15]) {
		t.Fatalf("cached range %q", part)
	}
	if _, err := read(0); !errors.Is(err, errDown) || hsm.IsPermanent(err) {
		t.Fatalf("evicted object with the remote down: %v", err)
	}
	// A write drops the cached copy: the next read asks the remote.
	remote.off.Store(false)
	if err := hsm.PutBytes(ctx, v, "blobs/5", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, err := read(5); err != nil || string(b) != "new" {
		t.Fatalf("read after overwrite: %q %v", b, err)
	}
	// A new cache over the same directory knows what it holds.
	v2 := newCache(t, remote, dir, 4000)
	remote.off.Store(true)
	if b, err := read(2); err != nil || !bytes.Equal(b, obj(2)) {
		t.Fatalf("before restart: %v", err)
	}
	if b, err := hsm.ReadAll(ctx, v2, "blobs/4"); err != nil || !bytes.Equal(b, obj(4)) {
		t.Fatalf("after restart, cached object with the remote down: %v", err)
	}
	// A smaller bound trims the directory on New.
	v3 := newCache(t, remote, dir, 1000)
	if _, _, size := v3.Stats(); size > 1000 {
		t.Fatalf("cache of %d bytes over a bound of 1000", size)
	}
}
