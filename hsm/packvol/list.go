package packvol

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tidemark/tidemark/hsm"
)

// List merges the packed objects (the index's names under prefix, sorted
// at each call: O(n log n) in the matching names) with the large objects'
// directory walk, in byte-wise order. A name in both is the packed one.
func (v *Volume) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	if err := hsm.CheckPrefix(prefix); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	v.mu.RLock()
	if v.closed {
		v.mu.RUnlock()
		return fmt.Errorf("list %s: %w", prefix, ErrClosed)
	}
	packed := make([]hsm.ObjectInfo, 0, 16)
	err := v.index.withPrefix(prefix, func(name string, l loc) {
		packed = append(packed, hsm.ObjectInfo{Name: name, Size: l.size, ModTime: time.Unix(0, l.mtime)})
	})
	hasLarge := len(v.largeNames) > 0
	v.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	sort.Slice(packed, func(i, j int) bool { return packed[i].Name < packed[j].Name })

	i := 0
	// emitUpTo reports the packed names before name ("" for all).
	emitUpTo := func(name string) error {
		for ; i < len(packed) && (name == "" || packed[i].Name < name); i++ {
			if err := fn(packed[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if hasLarge {
		err := v.large.List(ctx, prefix, func(oi hsm.ObjectInfo) error {
			if err := emitUpTo(oi.Name); err != nil {
				return err
			}
			if i < len(packed) && packed[i].Name == oi.Name {
				return nil // shadowed: the packed one comes next
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("list %s: %w", prefix, err)
			}
			return fn(oi)
		})
		if err != nil {
			return err
		}
	}
	return emitUpTo("")
}
