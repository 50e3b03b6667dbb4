package hsm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/memvol"
	"github.com/tidemark/tidemark/hsm/volumetest"
	"github.com/tidemark/tidemark/internal/corrupt"
)

func TestIsPermanent(t *testing.T) {
	boom := errors.New("connection reset")
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{boom, false},
		{fmt.Errorf("get x: %w", hsm.ErrNotFound), true},
		{fs.ErrNotExist, true},
		{fmt.Errorf("put: %w", hsm.ErrInvalidName), true},
		{hsm.ErrReadOnly, true},
		{fs.ErrPermission, true},
		{context.Canceled, true},
		{hsm.Permanent(boom), true},
		{hsm.Temporary(boom), false},
		{fmt.Errorf("wrapped: %w", hsm.Permanent(boom)), true},
		{hsm.Temporary(hsm.ErrNotFound), false},     // explicit mark wins
		{hsm.Permanent(hsm.Temporary(boom)), true},  // outer mark wins
		{hsm.Temporary(hsm.Permanent(boom)), false}, // outer mark wins
		{hsm.ErrInjected, false},
		{fmt.Errorf("get x: %w", corrupt.New("packvol: corrupt")), true}, // reading again returns the same bytes
	}
	for _, c := range cases {
		if got := hsm.IsPermanent(c.err); got != c.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "blobs/ab/ab12", "tidemark-backup.json", "log/1-2.seg.zst", "a.tmpx", "x/.hidden"} {
		if err := hsm.CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
}

func TestFaultyAndRetry(t *testing.T) {
	ctx := context.Background()
	f := hsm.NewFaulty(memvol.New(nil))
	var slept []time.Duration
	var retried int
	rv := hsm.WithRetry(f, hsm.RetryOptions{
		MaxAttempts:    4,
		InitialBackoff: time.Second,
		MaxBackoff:     3 * time.Second,
		Sleep:          func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil },
		OnRetry:        func(op, name string, attempt int, err error) { retried++ },
	})

	// Three temporary failures, then success: the put lands once, whole.
	f.FailNext(hsm.OpPut, 3, nil)
	if err := hsm.PutBytes(ctx, rv, "a", []byte("payload")); err != nil {
		t.Fatal(err)
	}
	if got, _ := hsm.ReadAll(ctx, f, "a"); string(got) != "payload" {
		t.Fatalf("after retried put: %q", got)
	}
	if f.Calls(hsm.OpPut) != 4 || f.Failures(hsm.OpPut) != 3 || retried != 3 {
		t.Fatalf("calls %d failures %d retried %d", f.Calls(hsm.OpPut), f.Failures(hsm.OpPut), retried)
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Fatalf("backoff %v, want %v", slept, want)
	}

	// A permanent error is not retried.
	f.Reset()
	perm := hsm.Permanent(errors.New("bucket gone"))
	f.FailNext(hsm.OpGet, 1, perm)
	if _, err := rv.Get(ctx, "a"); !errors.Is(err, perm) {
		t.Fatalf("get: %v", err)
	}
	if f.Calls(hsm.OpGet) != 1 {
		t.Fatalf("permanent error retried: %d calls", f.Calls(hsm.OpGet))
	}
	_, err := rv.Stat(ctx, "missing")
	if !hsm.IsNotFound(err) || f.Calls(hsm.OpStat) != 1 {
		t.Fatalf("not found retried: %v, %d calls", err, f.Calls(hsm.OpStat))
	}

	// An outage outlasting the attempts returns the temporary error.
	f.Reset()
	f.SetOutage(true)
	if _, err := rv.Stat(ctx, "a"); !errors.Is(err, hsm.ErrInjected) || hsm.IsPermanent(err) {
		t.Fatalf("stat in outage: %v", err)
	}
	if f.Calls(hsm.OpStat) != 4 {
		t.Fatalf("attempts in outage: %d", f.Calls(hsm.OpStat))
	}
	f.SetOutage(false)

	// A non-seekable reader cannot be replayed, so Put is not retried.
	f.Reset()
	f.FailNext(hsm.OpAny, 1, nil)
	if err := rv.Put(ctx, "b", io.MultiReader(bytes.NewReader([]byte("x"))), 1); err == nil {
		t.Fatal("put from a one-shot reader was retried")
	}
}

func TestRetryStopsOnContext(t *testing.T) {
	f := hsm.NewFaulty(memvol.New(nil))
	f.SetOutage(true)
	ctx, cancel := context.WithCancel(context.Background())
	rv := hsm.WithRetry(f, hsm.RetryOptions{
		MaxAttempts: 100,
		Sleep: func(ctx context.Context, d time.Duration) error {
			cancel()
			return ctx.Err()
		},
	})
	if _, err := rv.Stat(ctx, "a"); err == nil {
		t.Fatal("no error")
	}
	if n := f.Calls(hsm.OpStat); n != 1 {
		t.Fatalf("%d attempts after cancel", n)
	}
}

// TestRetryListResumes fails a listing midway and checks that the callback
// sees every object exactly once.
func TestRetryListResumes(t *testing.T) {
	ctx := context.Background()
	mv := memvol.New(nil)
	for _, n := range []string{"a", "b", "c", "d"} {
		if err := hsm.PutBytes(ctx, mv, n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	failing := &failAfter{Volume: mv, n: 2}
	rv := hsm.WithRetry(failing, hsm.RetryOptions{Sleep: func(context.Context, time.Duration) error { return nil }})
	var got []string
	if err := rv.List(ctx, "", func(oi hsm.ObjectInfo) error { got = append(got, oi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a b c d]" {
		t.Fatalf("listed %v", got)
	}
	stop := errors.New("stop")
	if err := rv.List(ctx, "", func(hsm.ObjectInfo) error { return stop }); err != stop {
		t.Fatalf("callback error came back as %v", err)
	}
}

// failAfter fails its first List after n objects with a temporary error.
type failAfter struct {
	hsm.Volume
	n    int
	done bool
}

func (f *failAfter) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	i := 0
	return f.Volume.List(ctx, prefix, func(oi hsm.ObjectInfo) error {
		if !f.done && i == f.n {
			f.done = true
			return hsm.Temporary(errors.New("connection reset"))
		}
		i++
		return fn(oi)
	})
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	mv := memvol.New(nil)
	if err := hsm.PutBytes(ctx, mv, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	ro := hsm.ReadOnly(mv)
	if err := hsm.PutBytes(ctx, ro, "b", []byte("y")); !errors.Is(err, hsm.ErrReadOnly) || !hsm.IsPermanent(err) {
		t.Fatalf("put: %v", err)
	}
	if err := ro.Delete(ctx, "a"); !errors.Is(err, hsm.ErrReadOnly) {
		t.Fatalf("delete: %v", err)
	}
	if got, err := hsm.ReadAll(ctx, ro, "a"); err != nil || string(got) != "x" {
		t.Fatalf("read: %q %v", got, err)
	}
}

// The decorators keep the contract: the suite runs through them.
func TestConformanceThroughDecorators(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		return hsm.WithRetry(hsm.NewFaulty(memvol.New(nil)), hsm.RetryOptions{})
	})
	// As the server wraps its repository: a local directory, every call
	// with a deadline, deferred fsyncs kept.
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		lv, err := localvol.New(vfs.Default, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		v := hsm.WithRetry(lv, hsm.RetryOptions{CallTimeout: time.Minute})
		if _, ok := v.(hsm.DeferredSyncer); !ok {
			t.Fatal("WithRetry hides the local volume's deferred fsyncs")
		}
		return v
	})
}

// hanging is a volume whose first n calls of Get and Put wait for their
// context to end, like a server that accepted the connection and never
// answers.
type hanging struct {
	hsm.Volume
	n int
}

func (h *hanging) hang(ctx context.Context) error {
	if h.n == 0 {
		return nil
	}
	h.n--
	<-ctx.Done()
	return ctx.Err()
}

func (h *hanging) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := h.hang(ctx); err != nil {
		return nil, err
	}
	return h.Volume.Get(ctx, name)
}

func (h *hanging) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := h.hang(ctx); err != nil {
		return err
	}
	return h.Volume.Put(ctx, name, r, size)
}

// TestRetryCallTimeout: every attempt has a deadline; one that runs out of
// it is temporary and retried, the caller's own cancellation is not, and a
// reader stays usable until closed.
func TestRetryCallTimeout(t *testing.T) {
	ctx := context.Background()
	h := &hanging{Volume: memvol.New(nil)}
	nosleep := func(context.Context, time.Duration) error { return nil }
	rv := hsm.WithRetry(h, hsm.RetryOptions{MaxAttempts: 3, CallTimeout: 20 * time.Millisecond, Sleep: nosleep})
	h.n = 2
	if err := hsm.PutBytes(ctx, rv, "a", []byte("payload")); err != nil || h.n != 0 {
		t.Fatalf("put after two hung attempts: %v (%d hangs left)", err, h.n)
	}
	h.n = 3
	_, err := rv.Get(ctx, "a")
	if !errors.Is(err, hsm.ErrCallTimeout) || hsm.IsPermanent(err) {
		t.Fatalf("get that never answers: %v (permanent %v)", err, hsm.IsPermanent(err))
	}
	rc, err := rv.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != "payload" {
		t.Fatalf("read after get: %q %v", b, err)
	}
	// The caller's deadline is the caller's: not retried.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	h.n = 5
	if _, err := rv.Get(cctx, "a"); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, hsm.ErrCallTimeout) || h.n != 4 {
		t.Fatalf("get past the caller's deadline: %v (%d hangs left)", err, h.n)
	}
	// Retry without a limit, used by loops that wait out an outage.
	calls := 0
	err = hsm.Retry(ctx, hsm.RetryOptions{MaxAttempts: -1, Sleep: nosleep}, "op", "x", func(context.Context) error {
		if calls++; calls < 20 {
			return errors.New("connection refused")
		}
		return nil
	})
	if err != nil || calls != 20 {
		t.Fatalf("unlimited retry: %v after %d calls", err, calls)
	}
	perm := hsm.Permanent(errors.New("permission denied"))
	calls = 0
	if err := hsm.Retry(ctx, hsm.RetryOptions{MaxAttempts: -1, Sleep: nosleep}, "op", "x", func(context.Context) error { calls++; return perm }); !errors.Is(err, perm) || calls != 1 {
		t.Fatalf("permanent error: %v after %d calls", err, calls)
	}
}
