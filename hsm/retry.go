package hsm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// RetryOptions is tidemark's one retry policy, for WithRetry and for Retry
// (the backup scanner's and the repository opener's loops). Zero fields
// take the defaults noted.
type RetryOptions struct {
	// MaxAttempts is the number of tries per call, including the first
	// (default 6); negative retries until the call succeeds, fails
	// permanently or ctx ends.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure (default 200ms);
	// each further wait is doubled up to MaxBackoff (default 10s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// CallTimeout is the deadline of each attempt (0: none). An attempt
	// that runs out of it fails with a temporary error and is retried;
	// for Get and GetRange it covers reading the object until Close, and
	// a List cut short resumes after the last name it gave.
	CallTimeout time.Duration
	// RetryPermanent retries permanent errors too (Retry only): for a
	// loop that waits for an administrator to fix a mount or permissions
	// while mail keeps flowing.
	RetryPermanent bool
	// Sleep waits for d or until ctx is done (default: a timer). Tests
	// inject one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnRetry, if set, is told about every failure that will be retried.
	OnRetry func(op, name string, attempt int, err error)
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.MaxAttempts == 0 {
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

// ErrCallTimeout is wrapped by the error of an attempt that ran out of
// RetryOptions.CallTimeout. It is temporary.
var ErrCallTimeout = errors.New("hsm: no answer within the call deadline")

// Retry runs f until it succeeds, fails permanently (see IsPermanent;
// unless RetryPermanent), runs out of attempts or ctx ends, waiting with
// exponential backoff between tries, and returns f's last error. f gets a
// context with the CallTimeout deadline, which ends when f returns.
func Retry(ctx context.Context, opts RetryOptions, op, name string, f func(ctx context.Context) error) error {
	o := opts.withDefaults()
	return retry(ctx, o, op, name, func(ctx context.Context) error {
		actx, cancel := o.callContext(ctx)
		defer cancel()
		return o.callErr(ctx, actx, op, name, f(actx))
	})
}

// retry is Retry's loop; f applies the call deadline itself.
func retry(ctx context.Context, o RetryOptions, op, name string, f func(ctx context.Context) error) error {
	backoff := o.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil || (IsPermanent(err) && !o.RetryPermanent) || (o.MaxAttempts > 0 && attempt >= o.MaxAttempts) || ctx.Err() != nil {
			return err
		}
		if o.OnRetry != nil {
			o.OnRetry(op, name, attempt, err)
		}
		if serr := o.Sleep(ctx, backoff); serr != nil {
			return fmt.Errorf("%w (retry stopped: %v)", err, serr)
		}
		backoff = min(2*backoff, o.MaxBackoff)
	}
}

// callContext returns the context of one attempt.
func (o RetryOptions) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.CallTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, o.CallTimeout, ErrCallTimeout)
}

// callErr marks the error of an attempt that ran out of its deadline (and
// not of ctx's) as temporary.
func (o RetryOptions) callErr(ctx, actx context.Context, op, name string, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), ErrCallTimeout) {
		return Temporary(fmt.Errorf("%s %s: %w (%s): %v", op, name, ErrCallTimeout, o.CallTimeout, err))
	}
	return err
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
// IsPermanent) are retried with exponential backoff, each attempt within
// CallTimeout. It stops at the first permanent error, after MaxAttempts, or
// when ctx is done, and returns the last error from v. Put is retried only
// when its reader is an io.Seeker (bytes.Reader, os.File), which is rewound
// before each new attempt; a failed List is resumed after the last name
// already given to fn, so fn sees every object once. When v is a
// DeferredSyncer the result is one too.
func WithRetry(v Volume, opts RetryOptions) Volume {
	o := opts.withDefaults()
	o.RetryPermanent = false
	rv := &retryVolume{v: v, o: o}
	if ds, ok := v.(DeferredSyncer); ok {
		return &retryDeferred{retryVolume: rv, ds: ds}
	}
	if vp, ok := v.(VerifyingPutter); ok {
		return &retryVerifying{retryVolume: rv, vp: vp}
	}
	return rv
}

// retryVerifying is a retryVolume over a volume that verifies its stores:
// it keeps the VerifyingPutter, retried like Put.
type retryVerifying struct {
	*retryVolume
	vp VerifyingPutter
}

var _ VerifyingPutter = (*retryVerifying)(nil)

func (r *retryVerifying) PutVerified(ctx context.Context, name string, data []byte) error {
	return r.do(ctx, "put", name, func(ctx context.Context) error { return r.vp.PutVerified(ctx, name, data) })
}

type retryVolume struct {
	v Volume
	o RetryOptions
}

var _ Volume = (*retryVolume)(nil)

// do runs f until it succeeds, fails permanently or runs out of attempts.
func (r *retryVolume) do(ctx context.Context, op, name string, f func(ctx context.Context) error) error {
	return Retry(ctx, r.o, op, name, f)
}

// open is do for calls that return a reader: the attempt's deadline covers
// reading it, and ends when it is closed.
func (r *retryVolume) open(ctx context.Context, op, name string, f func(ctx context.Context) (io.ReadCloser, error)) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := retry(ctx, r.o, op, name, func(ctx context.Context) error {
		actx, cancel := r.o.callContext(ctx)
		var err error
		if rc, err = f(actx); err != nil {
			cancel()
			return r.o.callErr(ctx, actx, op, name, err)
		}
		rc = &cancelOnClose{ReadCloser: rc, cancel: cancel}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// cancelOnClose ends an attempt's context when its reader is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func (r *retryVolume) Put(ctx context.Context, name string, rd io.Reader, size int64) error {
	return r.put(ctx, "put", name, rd, size, r.v.Put)
}

// put retries a store when rd can be rewound; otherwise it makes one
// attempt, still within the call deadline.
func (r *retryVolume) put(ctx context.Context, op, name string, rd io.Reader, size int64,
	put func(ctx context.Context, name string, rd io.Reader, size int64) error) error {
	o := r.o
	s, ok := rd.(io.Seeker)
	var start int64
	if ok {
		var err error
		if start, err = s.Seek(0, io.SeekCurrent); err != nil {
			ok = false
		}
	}
	if !ok {
		o.MaxAttempts = 1
	}
	first := true
	return Retry(ctx, o, op, name, func(ctx context.Context) error {
		if !first {
			if _, err := s.Seek(start, io.SeekStart); err != nil {
				return Permanent(fmt.Errorf("%s %s: rewind for retry: %w", op, name, err))
			}
		}
		first = false
		return put(ctx, name, rd, size)
	})
}

// retryDeferred is a retryVolume over a volume that defers fsyncs: it
// keeps the DeferredSyncer, retried like Put (SyncDeferred's contract
// keeps failed objects pending for the next call).
type retryDeferred struct {
	*retryVolume
	ds DeferredSyncer
}

var _ DeferredSyncer = (*retryDeferred)(nil)

func (r *retryDeferred) PutDeferred(ctx context.Context, name string, rd io.Reader, size int64) error {
	return r.put(ctx, "put", name, rd, size, r.ds.PutDeferred)
}

func (r *retryDeferred) SyncDeferred(ctx context.Context) error {
	return r.do(ctx, "sync", "", r.ds.SyncDeferred)
}

func (r *retryVolume) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return r.open(ctx, "get", name, func(ctx context.Context) (io.ReadCloser, error) { return r.v.Get(ctx, name) })
}

func (r *retryVolume) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	return r.open(ctx, "getrange", name, func(ctx context.Context) (io.ReadCloser, error) {
		return r.v.GetRange(ctx, name, off, length)
	})
}

func (r *retryVolume) Stat(ctx context.Context, name string) (fi ObjectInfo, err error) {
	err = r.do(ctx, "stat", name, func(ctx context.Context) error {
		fi, err = r.v.Stat(ctx, name)
		return err
	})
	return fi, err
}

func (r *retryVolume) Delete(ctx context.Context, name string) error {
	return r.do(ctx, "delete", name, func(ctx context.Context) error { return r.v.Delete(ctx, name) })
}

// fnError carries an error returned by the caller's List callback, so it is
// returned as is and never retried.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

func (r *retryVolume) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	var last string
	seen := false
	err := r.do(ctx, "list", prefix, func(ctx context.Context) error {
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
