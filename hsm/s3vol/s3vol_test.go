package s3vol_test

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/cachevol"
	"github.com/tidemark/tidemark/hsm/memvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
	"github.com/tidemark/tidemark/hsm/volumetest"
)

// TestConformance runs the suite against versitygw, each subtest under its
// own prefix of one bucket, as servers sharing a bucket would.
func TestConformance(t *testing.T) {
	srv := s3test.StartServer(t)
	var n atomic.Int64
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		o := srv.Options()
		o.Prefix = fmt.Sprintf("server%d", n.Add(1))
		v, err := s3vol.New(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

// TestPutVerified: a store with Content-MD5 reads back as written, also
// through the retry wrapping and the read cache the server puts around an
// S3 volume, which keep the interface; the cache is not filled by it.
func TestPutVerified(t *testing.T) {
	srv := s3test.StartServer(t)
	o := srv.Options()
	o.Prefix = "verified"
	v, err := s3vol.New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := hsm.WithRetry(v, hsm.RetryOptions{MaxAttempts: 2})
	cache := memvol.New(nil)
	cv, err := cachevol.New(t.Context(), wrapped, cache, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i, vol := range []hsm.Volume{v, wrapped, cv} {
		vp, ok := vol.(hsm.VerifyingPutter)
		if !ok {
			t.Fatalf("volume %d (%T) lost PutVerified", i, vol)
		}
		for _, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("verified "), 10000)} {
			name := fmt.Sprintf("blobs/%d-%d", i, len(data))
			if err := vp.PutVerified(t.Context(), name, data); err != nil {
				t.Fatalf("volume %d: put verified %d bytes: %v", i, len(data), err)
			}
			got, err := hsm.ReadAll(t.Context(), v, name)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("volume %d: %d bytes read back as %d: %v", i, len(data), len(got), err)
			}
		}
	}
	n := 0
	if err := cache.List(t.Context(), "", func(hsm.ObjectInfo) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("the cache holds %d objects after verified puts: %v", n, err)
	}
}
