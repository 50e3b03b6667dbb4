package hsm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Operation names used by Faulty.
const (
	OpPut      = "put"
	OpGet      = "get"
	OpGetRange = "getrange"
	OpStat     = "stat"
	OpDelete   = "delete"
	OpList     = "list"
	// OpAny matches every operation in FailNext.
	OpAny = "*"
)

// ErrInjected is the default error of Faulty: an outage or FailNext without
// an error of its own. It is temporary.
var ErrInjected = Temporary(errors.New("hsm: injected fault"))

// Faulty is a Volume that passes calls to another volume and fails them on
// demand, for tests of the packages that use volumes (the backup scanner's
// behaviour during an S3 outage, the engine's handling of a full disk). A
// failed call does not reach the wrapped volume, so a failed Put stores
// nothing. Faulty is safe for concurrent use.
type Faulty struct {
	v Volume

	mu       sync.Mutex
	outage   bool
	outErr   error
	next     map[string][]error // op → errors for the next calls, in order
	calls    map[string]int
	failures map[string]int
}

var _ Volume = (*Faulty)(nil)

// NewFaulty wraps v; until told otherwise every call passes through.
func NewFaulty(v Volume) *Faulty {
	return &Faulty{v: v, next: map[string][]error{}, calls: map[string]int{}, failures: map[string]int{}}
}

// SetOutage starts (true) or ends (false) an outage: while it lasts every
// call fails with ErrInjected.
func (f *Faulty) SetOutage(on bool) { f.SetOutageErr(on, nil) }

// SetOutageErr is SetOutage with the error calls fail with (nil means
// ErrInjected).
func (f *Faulty) SetOutageErr(on bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outage, f.outErr = on, err
}

// FailNext makes the next n calls of op (an Op constant; OpAny for any
// operation) fail with err, or ErrInjected if err is nil. Calls queue: two
// FailNext for the same op fail that many calls in the order given.
func (f *Faulty) FailNext(op string, n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		f.next[op] = append(f.next[op], err)
	}
}

// Calls returns how many calls of op were made, failed or not (OpAny: all).
func (f *Faulty) Calls(op string) int { return f.count(f.calls, op) }

// Failures returns how many calls of op were failed by injection (OpAny:
// all).
func (f *Faulty) Failures(op string) int { return f.count(f.failures, op) }

// Reset ends any outage, drops pending failures and zeroes the counters.
func (f *Faulty) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outage, f.outErr = false, nil
	f.next = map[string][]error{}
	f.calls = map[string]int{}
	f.failures = map[string]int{}
}

func (f *Faulty) count(m map[string]int, op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op != OpAny {
		return m[op]
	}
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// enter records a call of op and returns the error to fail it with, if any.
func (f *Faulty) enter(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	var err error
	switch {
	case f.outage:
		err = f.outErr
		if err == nil {
			err = ErrInjected
		}
	case len(f.next[op]) > 0:
		err, f.next[op] = f.next[op][0], f.next[op][1:]
	case len(f.next[OpAny]) > 0:
		err, f.next[OpAny] = f.next[OpAny][0], f.next[OpAny][1:]
	}
	if err == nil {
		return nil
	}
	f.failures[op]++
	return fmt.Errorf("%s %s: %w", op, name, err)
}

func (f *Faulty) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := f.enter(OpPut, name); err != nil {
		return err
	}
	return f.v.Put(ctx, name, r, size)
}

func (f *Faulty) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := f.enter(OpGet, name); err != nil {
		return nil, err
	}
	return f.v.Get(ctx, name)
}

func (f *Faulty) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := f.enter(OpGetRange, name); err != nil {
		return nil, err
	}
	return f.v.GetRange(ctx, name, off, length)
}

func (f *Faulty) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	if err := f.enter(OpStat, name); err != nil {
		return ObjectInfo{}, err
	}
	return f.v.Stat(ctx, name)
}

func (f *Faulty) Delete(ctx context.Context, name string) error {
	if err := f.enter(OpDelete, name); err != nil {
		return err
	}
	return f.v.Delete(ctx, name)
}

func (f *Faulty) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := f.enter(OpList, prefix); err != nil {
		return err
	}
	return f.v.List(ctx, prefix, fn)
}
