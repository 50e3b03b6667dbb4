package repository

import (
	"context"
	"fmt"
	"sort"

	"github.com/tidemark/tidemark/dedup"
)

// RepackDead removes the dead blobs from packs: a pack holding only dead
// blobs is returned to be deleted; one whose dead share reaches
// repackDeadFraction is rewritten, its live blobs stored durably in a new
// pack, and returned to be deleted. Packs already waiting for deletion
// are left alone. It also returns which dead blobs are stored loose.
func (r *Repository) RepackDead(ctx context.Context, dead map[dedup.Digest]bool, pending map[string]int64) ([]string, map[dedup.Digest]bool, error) {
	if len(dead) == 0 {
		return nil, nil, nil
	}
	v, err := r.ViewPacks(ctx)
	if err != nil {
		return nil, nil, err
	}
	loose := map[dedup.Digest]bool{}
	for d := range dead {
		if v.loose[d] {
			loose[d] = true
		}
	}
	names := make([]string, 0, len(v.Indexes))
	for name := range v.Indexes {
		if _, waiting := pending[name]; !waiting {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var old []string
	for _, name := range names {
		pi := v.Indexes[name]
		var all, deadBytes int64
		for _, b := range pi.Blobs {
			all += b.Len
			if dead[b.Digest] {
				deadBytes += b.Len
			}
		}
		if deadBytes == 0 || float64(deadBytes) < repackDeadFraction*float64(all) {
			continue
		}
		w := NewPackWriter(r, nil)
		for _, b := range pi.Blobs {
			if dead[b.Digest] {
				continue
			}
			raw, err := r.readPacked(ctx, b.Digest, blobLoc{pack: name, chunk: pi.Chunks[b.Chunk], off: b.Off, ln: b.Len})
			if err != nil {
				return old, loose, fmt.Errorf("repack %s: %w", name, err) // verify reports it; keep the pack
			}
			w.Add(ctx, b.Digest, raw)
		}
		if _, err := w.Flush(ctx); err != nil {
			return old, loose, fmt.Errorf("repack %s: %w", name, err)
		}
		old = append(old, name)
	}
	return old, loose, nil
}

// repackDeadFraction: a pack is rewritten once this share of its raw bytes
// belongs to blobs nothing references.
const repackDeadFraction = 0.25
