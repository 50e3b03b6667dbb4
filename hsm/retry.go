package hsm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// RetryOptions configures WithRetry. Zero fields take the defaults noted.
type RetryOptions struct {
	// MaxAttempts is the number of tries per call, including the first
	// (default 6).
	MaxAttempts int
	// InitialBackoff is the wait after the first failure (default 200ms);
	// each further wait is doubled up to MaxBackoff (default 10s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Sleep waits for d or until ctx is done (default: a timer). Tests
	// inject one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnRetry, if set, is told about every failure that will be retried.
	OnRetry func(op, name string, attempt int, err error)
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	return o
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WithRetry wraps v so that calls failing with a temporary error (see
// IsPermanent) are retried with exponential backoff. It stops at the first
// permanent error, after MaxAttempts, or when ctx is done, and returns the
// last error from v. Put is retried only when its reader is an io.Seeker
// (bytes.Reader, os.File), which is rewound before each new attempt; a
// failed List is resumed after the last name already given to fn, so fn sees
// every object once.
func WithRetry(v Volume, opts RetryOptions) Volume {
	return &retryVolume{v: v, o: opts.withDefaults()}
}

type retryVolume struct {
	v Volume
	o RetryOptions
}

// do runs f until it succeeds, fails permanently or runs out of attempts.
func (r *retryVolume) do(ctx context.Context, op, name string, f func() error) error {
	backoff := r.o.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || IsPermanent(err) || attempt >= r.o.MaxAttempts || ctx.Err() != nil {
			return err
		}
		if r.o.OnRetry != nil {
			r.o.OnRetry(op, name, attempt, err)
		}
		if serr := r.o.Sleep(ctx, backoff); serr != nil {
			return fmt.Errorf("%w (retry stopped: %v)", err, serr)
		}
		backoff = min(2*backoff, r.o.MaxBackoff)
	}
}

func (r *retryVolume) Put(ctx context.Context, name string, rd io.Reader, size int64) error {
	s, ok := rd.(io.Seeker)
	if !ok {
		return r.v.Put(ctx, name, rd, size)
	}
	start, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return r.v.Put(ctx, name, rd, size)
	}
	first := true
	return r.do(ctx, "put", name, func() error {
		if !first {
			if _, err := s.Seek(start, io.SeekStart); err != nil {
				return Permanent(fmt.Errorf("put %s: rewind for retry: %w", name, err))
			}
		}
		first = false
		return r.v.Put(ctx, name, rd, size)
	})
}

func (r *retryVolume) Get(ctx context.Context, name string) (rc io.ReadCloser, err error) {
	err = r.do(ctx, "get", name, func() error {
		rc, err = r.v.Get(ctx, name)
		return err
	})
	return rc, err
}

func (r *retryVolume) GetRange(ctx context.Context, name string, off, length int64) (rc io.ReadCloser, err error) {
	err = r.do(ctx, "getrange", name, func() error {
		rc, err = r.v.GetRange(ctx, name, off, length)
		return err
	})
	return rc, err
}

func (r *retryVolume) Stat(ctx context.Context, name string) (fi ObjectInfo, err error) {
	err = r.do(ctx, "stat", name, func() error {
		fi, err = r.v.Stat(ctx, name)
		return err
	})
	return fi, err
}

func (r *retryVolume) Delete(ctx context.Context, name string) error {
	return r.do(ctx, "delete", name, func() error { return r.v.Delete(ctx, name) })
}

// fnError carries an error returned by the caller's List callback, so it is
// returned as is and never retried.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

func (r *retryVolume) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	var last string
	seen := false
	err := r.do(ctx, "list", prefix, func() error {
		return r.v.List(ctx, prefix, func(oi ObjectInfo) error {
			if seen && oi.Name <= last {
				return nil // delivered before the failure
			}
			if err := fn(oi); err != nil {
				return Permanent(&fnError{err}) // never retried
			}
			last, seen = oi.Name, true
			return nil
		})
	})
	var fe *fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}
