package s3vol_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
)

func newVol(t *testing.T, o s3vol.Options) *s3vol.Volume {
	t.Helper()
	v, err := s3vol.New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func names(t *testing.T, v hsm.Volume, prefix string) []string {
	t.Helper()
	var out []string
	if err := v.List(t.Context(), prefix, func(oi hsm.ObjectInfo) error {
		out = append(out, oi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSharedBucket checks that volumes under different prefixes of one
// bucket, and one without a prefix, do not see each other's objects by name.
func TestSharedBucket(t *testing.T) {
	srv := s3test.StartServer(t)
	oa, ob := srv.Options(), srv.Options()
	oa.Prefix, ob.Prefix = "srv-a", "/srv-b/" // slashes are trimmed
	a, b := newVol(t, oa), newVol(t, ob)
	ctx := t.Context()
	if err := hsm.PutBytes(ctx, a, "blobs/ab/x", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if err := hsm.PutBytes(ctx, b, "blobs/ab/x", []byte("from b")); err != nil {
		t.Fatal(err)
	}
	got, err := hsm.ReadAll(ctx, a, "blobs/ab/x")
	if err != nil || string(got) != "from a" {
		t.Fatalf("a reads %q, %v", got, err)
	}
	if err := b.Delete(ctx, "blobs/ab/x"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, a, ""); !slices.Equal(got, []string{"blobs/ab/x"}) {
		t.Fatalf("a lists %q", got)
	}
	root := newVol(t, srv.Options())
	if got := names(t, root, ""); !slices.Equal(got, []string{"srv-a/blobs/ab/x"}) {
		t.Fatalf("unprefixed volume lists %q", got)
	}
}

// TestOutage stops the server: calls fail with temporary errors, and after a
// restart the stored objects are back and WithRetry rides out a short outage.
func TestOutage(t *testing.T) {
	srv := s3test.StartServer(t)
	v := newVol(t, srv.Options())
	ctx := t.Context()
	if err := hsm.PutBytes(ctx, v, "log/1-10.seg.zst", []byte("segment")); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if srv.Running() {
		t.Fatal("running after Stop")
	}
	_, err := v.Stat(ctx, "log/1-10.seg.zst")
	if err == nil || hsm.IsPermanent(err) || hsm.IsNotFound(err) {
		t.Fatalf("stat during outage: err = %v, want a temporary error", err)
	}
	if err := hsm.PutBytes(ctx, v, "log/11-20.seg.zst", []byte("x")); err == nil || hsm.IsPermanent(err) {
		t.Fatalf("put during outage: err = %v, want a temporary error", err)
	}

	// A retrying volume waits through the outage when the server comes back
	// during its backoff.
	rv := hsm.WithRetry(v, hsm.RetryOptions{
		MaxAttempts: 5,
		Sleep: func(ctx context.Context, d time.Duration) error {
			if !srv.Running() {
				srv.Restart()
			}
			return nil
		},
	})
	got, err := hsm.ReadAll(ctx, rv, "log/1-10.seg.zst")
	if err != nil || string(got) != "segment" {
		t.Fatalf("after restart: %q, %v", got, err)
	}
}

func TestMissingBucket(t *testing.T) {
	srv := s3test.StartServer(t)
	o := srv.Options()
	o.Bucket = "no-such-bucket"
	v := newVol(t, o) // no network I/O without CreateBucket
	err := hsm.PutBytes(t.Context(), v, "x", []byte("x"))
	if err == nil || !hsm.IsPermanent(err) {
		t.Fatalf("put to a missing bucket: err = %v, want permanent", err)
	}
	o.CreateBucket = true
	v = newVol(t, o)
	if err := hsm.PutBytes(t.Context(), v, "x", []byte("x")); err != nil {
		t.Fatalf("put after CreateBucket: %v", err)
	}
}

func TestWrongCredentials(t *testing.T) {
	srv := s3test.StartServer(t)
	o := srv.Options()
	o.SecretKey = "wrong"
	v := newVol(t, o)
	_, err := v.Stat(t.Context(), "x")
	if !errors.Is(err, hsm.ErrPermission) || !hsm.IsPermanent(err) {
		t.Fatalf("stat with a wrong secret: err = %v, want permanent ErrPermission", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []s3vol.Options{
		{Bucket: "b"},
		{Endpoint: "http://127.0.0.1:1", Bucket: "b"},
		{Endpoint: "127.0.0.1:1"},
		{Endpoint: "127.0.0.1:1", Bucket: "b", Prefix: "a/../b"},
		{Endpoint: "127.0.0.1:1", Bucket: "b", PartSize: 1 << 20},
	} {
		if _, err := s3vol.New(context.Background(), o); err == nil {
			t.Errorf("New(%+v) accepted bad options", o)
		}
	}
}
