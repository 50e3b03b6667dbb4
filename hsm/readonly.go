package hsm

import (
	"context"
	"fmt"
	"io"
)

// ReadOnly wraps v so that Put and Delete fail with ErrReadOnly and reads
// pass through. Restore and verify open the backup repository this way so
// that a bug in them cannot change it.
func ReadOnly(v Volume) Volume { return readOnly{v} }

type readOnly struct{ v Volume }

func (r readOnly) Put(ctx context.Context, name string, _ io.Reader, _ int64) error {
	return fmt.Errorf("put %s: %w", name, ErrReadOnly)
}

func (r readOnly) Delete(ctx context.Context, name string) error {
	return fmt.Errorf("delete %s: %w", name, ErrReadOnly)
}

func (r readOnly) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return r.v.Get(ctx, name)
}

func (r readOnly) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	return r.v.GetRange(ctx, name, off, length)
}

func (r readOnly) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	return r.v.Stat(ctx, name)
}

func (r readOnly) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	return r.v.List(ctx, prefix, fn)
}
