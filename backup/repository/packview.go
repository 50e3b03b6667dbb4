package repository

import (
	"context"
	"sort"

	"github.com/tidemark/tidemark/dedup"
)

// PackView is a copy of the repository's packs and loose blobs.
type PackView struct {
	Sizes   map[string]int64
	Indexes map[string]PackIndex
	loose   map[dedup.Digest]bool
}

// ViewPacks lists the repository afresh and copies its pack indexes.
func (r *Repository) ViewPacks(ctx context.Context) (PackView, error) {
	x := &r.blobs
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := r.refreshBlobs(ctx); err != nil {
		return PackView{}, err
	}
	v := PackView{Sizes: map[string]int64{}, Indexes: map[string]PackIndex{}, loose: map[dedup.Digest]bool{}}
	for n, sz := range x.packs {
		v.Sizes[n] = sz
		v.Indexes[n] = x.indexes[n]
	}
	for d := range x.loose {
		v.loose[d] = true
	}
	return v, nil
}

// SupersededPacks returns the packs, among those not waiting for deletion,
// that readers need for no blob: every blob they hold is loose (and not
// waiting for deletion) or held by another such pack that packBefore
// prefers. Deleting all of them at once leaves every blob readable.
func SupersededPacks(v PackView, pending map[string]int64) []string {
	winner := map[dedup.Digest]string{}
	for name, pi := range v.Indexes {
		if _, ok := pending[name]; ok {
			continue
		}
		for _, b := range pi.Blobs {
			if _, waiting := pending[dedup.BlobName(b.Digest)]; v.loose[b.Digest] && !waiting {
				continue
			}
			cur, ok := winner[b.Digest]
			if !ok || packBefore(name, len(pi.Blobs), cur, len(v.Indexes[cur].Blobs)) {
				winner[b.Digest] = name
			}
		}
	}
	wins := map[string]bool{}
	for _, n := range winner {
		wins[n] = true
	}
	var out []string
	for name := range v.Indexes {
		if _, ok := pending[name]; !ok && !wins[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
