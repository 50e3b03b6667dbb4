package memvol

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tidemark/tidemark/hsm"
)

// Options configures New.
type Options struct {
	// Now stamps ModTime on Put (default time.Now).
	Now func() time.Time
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

type object struct {
	data []byte // never modified after Put; readers share it
	mod  time.Time
}

// Volume is an in-memory hsm.Volume. The zero value is not usable; call New.
type Volume struct {
	now  func() time.Time
	mu   sync.RWMutex
	objs map[string]object
}

var _ hsm.Volume = (*Volume)(nil)

// New returns an empty volume. opts may be nil.
func New(opts *Options) *Volume {
	o := opts.withDefaults()
	return &Volume{now: o.Now, objs: map[string]object{}}
}

// Put reads r whole before storing, so a failed read stores nothing.
func (v *Volume) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("put %s: read: %w", name, err)
	}
	if err := hsm.CheckSize(name, size, int64(len(b))); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.objs[name] = object{data: b, mod: v.now()}
	return nil
}

func (v *Volume) lookup(ctx context.Context, op, name string) (object, error) {
	if err := hsm.CheckName(name); err != nil {
		return object{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return object{}, fmt.Errorf("%s %s: %w", op, name, err)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	o, ok := v.objs[name]
	if !ok {
		return object{}, fmt.Errorf("%s %s: %w", op, name, hsm.ErrNotFound)
	}
	return o, nil
}

func (v *Volume) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	o, err := v.lookup(ctx, "get", name)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

func (v *Volume) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	o, err := v.lookup(ctx, "get range", name)
	if err != nil {
		return nil, err
	}
	n, err := hsm.CheckRange(int64(len(o.data)), off, length)
	if err != nil {
		return nil, fmt.Errorf("get range %s: %w", name, err)
	}
	return io.NopCloser(bytes.NewReader(o.data[off : off+n])), nil
}

func (v *Volume) Stat(ctx context.Context, name string) (hsm.ObjectInfo, error) {
	o, err := v.lookup(ctx, "stat", name)
	if err != nil {
		return hsm.ObjectInfo{}, err
	}
	return hsm.ObjectInfo{Name: name, Size: int64(len(o.data)), ModTime: o.mod}, nil
}

func (v *Volume) Delete(ctx context.Context, name string) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.objs, name)
	return nil
}

// List works on a snapshot taken at the call, so fn may use the volume.
func (v *Volume) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	if err := hsm.CheckPrefix(prefix); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	v.mu.RLock()
	infos := make([]hsm.ObjectInfo, 0, len(v.objs))
	for name, o := range v.objs {
		if strings.HasPrefix(name, prefix) {
			infos = append(infos, hsm.ObjectInfo{Name: name, Size: int64(len(o.data)), ModTime: o.mod})
		}
	}
	v.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	for _, oi := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if err := fn(oi); err != nil {
			return err
		}
	}
	return nil
}
