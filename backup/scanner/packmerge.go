package scanner

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tidemark/tidemark/backup/internal/tune"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
)

// Pack merging. Every ship that carries new mail writes a pack of its
// own, so a quiet server shipping every 50 ms with a message a second
// would write ~86,000 small packs a day. Maintenance merges them, in the
// levels of segment compaction (Options.CompactLevels, default 30 s,
// 5 min, 1 h): the small packs (under half the pack target, 8 MiB) born in
// one window that has passed are rewritten as one pack (up to the target,
// 16 MiB, per merged pack), each pack at the largest level whose window is
// complete; packs that have passed every level merge once together they
// reach the target. A pack's birth is when this scanner wrote it or first
// listed it (after a restart, the packs found wait one window again); a
// merged pack is born when its oldest source was, so it climbs the levels:
// a blob is rewritten at most once per level, plus once by the size rule.
//
// The merged pack, index included, is stored with a durable Put before
// its sources are marked superseded; they are deleted after
// Options.SupersededGrace (DeferDelete), so a copy of the repository that
// listed them still finds every blob. Readers prefer the merged pack
// meanwhile (packBefore: more blobs first). Whether a pack is superseded
// is also a function of the repository alone (repository.SupersededPacks), so a
// merge cut short by a crash after its Put is finished by the next pass.

// packFullBytes: packs this large are not merged again.
func packFullBytes() int64 { return int64(tune.PackTargetBytes) / 2 }

// mergeCand is a pack maintenance may merge.
type mergeCand struct {
	name string
	size int64
	born time.Time
}

// MergePacks runs one pass of pack maintenance: it marks superseded packs
// for deletion, deletes those whose grace period has passed (and loose
// blobs purge left waiting), and merges small packs as described above.
// It returns how many packs it merged. The scanner's maintenance calls it
// beside Compact; it does nothing on a format 1 repository.
func (s *Scanner) MergePacks(ctx context.Context) (int, error) {
	s.maint.Lock()
	defer s.maint.Unlock()
	return s.mergePacks(ctx)
}

func (s *Scanner) mergePacks(ctx context.Context) (int, error) {
	if s.pack == nil {
		return 0, nil
	}
	now := s.o.Now()
	v, err := s.repo.ViewPacks(ctx)
	if err != nil {
		return 0, err
	}
	pending, err := s.cat.Pending()
	if err != nil {
		return 0, err
	}
	if sup := repository.SupersededPacks(v, pending); len(sup) > 0 {
		if err := s.cat.DeferDelete(sup, s.graceEnd(now)); err != nil {
			return 0, err
		}
		for _, n := range sup {
			pending[n] = 0
		}
	}
	if _, err := s.reap(ctx); err != nil {
		return 0, err
	}
	// Birth times: forget packs gone, give packs first seen now.
	s.bornMu.Lock()
	for n := range s.packBorn {
		if _, ok := v.Sizes[n]; !ok {
			delete(s.packBorn, n)
		}
	}
	var cands []mergeCand
	for n, sz := range v.Sizes {
		born, ok := s.packBorn[n]
		if !ok {
			born = now
			s.packBorn[n] = now
		}
		if _, waiting := pending[n]; !waiting && sz < packFullBytes() && !s.mergeBad[n] {
			cands = append(cands, mergeCand{name: n, size: sz, born: born})
		}
	}
	s.bornMu.Unlock()
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].born.Equal(cands[j].born) {
			return cands[i].born.Before(cands[j].born)
		}
		return cands[i].name < cands[j].name
	})
	levels := s.mergeLevels()
	merged := 0
	done := map[string]bool{}
	complete := func(c mergeCand, w time.Duration) (int64, bool) {
		b := c.born.UnixNano() / int64(w)
		return b, (b+1)*int64(w) <= now.UnixNano()
	}
	for i := len(levels) - 1; i >= 0; i-- {
		w := levels[i]
		var group []mergeCand
		var bucket int64
		var size int64
		flush := func() error {
			g := group
			group, size = nil, 0
			if len(g) < 2 {
				return nil
			}
			n, err := s.mergeGroup(ctx, g, v)
			merged += n
			for _, c := range g {
				done[c.name] = true
			}
			return err
		}
		for _, c := range cands {
			if done[c.name] {
				continue
			}
			b, ok := complete(c, w)
			if !ok {
				continue
			}
			if len(group) > 0 && (b != bucket || size+c.size > int64(tune.PackTargetBytes)) {
				if err := flush(); err != nil {
					return merged, err
				}
			}
			group, bucket, size = append(group, c), b, size+c.size
		}
		if err := flush(); err != nil {
			return merged, err
		}
	}
	// Packs past every level: merge them once together they reach the
	// target.
	var group []mergeCand
	var size int64
	for _, c := range cands {
		if _, ok := complete(c, levels[len(levels)-1]); done[c.name] || !ok {
			continue
		}
		group, size = append(group, c), size+c.size
		if size >= int64(tune.PackTargetBytes) {
			n, err := s.mergeGroup(ctx, group, v)
			merged += n
			if err != nil {
				return merged, err
			}
			group, size = nil, 0
		}
	}
	return merged, nil
}

// mergeLevels returns the merge windows in increasing order.
func (s *Scanner) mergeLevels() []time.Duration {
	l := append([]time.Duration(nil), s.o.CompactLevels...)
	if len(l) == 0 {
		l = []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour}
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l
}

// graceEnd is when an object superseded at now may be deleted.
func (s *Scanner) graceEnd(now time.Time) time.Time {
	if s.o.SupersededGrace < 0 {
		return now
	}
	return now.Add(s.o.SupersededGrace)
}

// mergeGroup writes the blobs of group as one pack, durably, then marks
// the group's packs for deletion after the grace period. A pack that
// cannot be read is left out of merges from then on (verify reports it).
func (s *Scanner) mergeGroup(ctx context.Context, group []mergeCand, v repository.PackView) (int, error) {
	w := repository.NewPackWriter(s.repo, nil)
	w.Target = 1 << 62
	seen := map[dedup.Digest]bool{}
	born := group[0].born
	for _, c := range group {
		if c.born.Before(born) {
			born = c.born
		}
		if err := s.readPackInto(ctx, c.name, v.Indexes[c.name], seen, w); err != nil {
			w.Reset()
			if repository.IsCorrupt(err) {
				s.mergeBad[c.name] = true
				s.o.Logger.Warn("backup: pack left out of merges", "pack", c.name, "err", err)
				return 0, nil
			}
			return 0, err
		}
	}
	written, err := w.Flush(ctx)
	if err != nil {
		return 0, fmt.Errorf("merge packs: %w", err)
	}
	if len(written) > 0 {
		s.bornMu.Lock()
		s.packBorn[written[0].Pack] = born
		s.bornMu.Unlock()
	}
	names := make([]string, len(group))
	for i, c := range group {
		names[i] = c.name
	}
	if err := s.cat.DeferDelete(names, s.graceEnd(s.o.Now())); err != nil {
		return 0, err
	}
	return len(group), nil
}

// readPackInto adds every blob of a pack not in seen to w, reading each
// chunk once and checking each blob's digest.
func (s *Scanner) readPackInto(ctx context.Context, name string, pi repository.PackIndex, seen map[dedup.Digest]bool, w *repository.PackWriter) error {
	byChunk := make([][]repository.PackEntry, len(pi.Chunks))
	for _, b := range pi.Blobs {
		byChunk[b.Chunk] = append(byChunk[b.Chunk], b)
	}
	for ci, c := range pi.Chunks {
		if len(byChunk[ci]) == 0 {
			continue
		}
		stored, err := s.repo.GetRange(ctx, name, c.Off, c.Stored)
		if err != nil {
			return err
		}
		raw, err := repository.DecodeChunk(stored, c)
		if err != nil {
			return fmt.Errorf("%s chunk at %d: %w", name, c.Off, err)
		}
		for _, b := range byChunk[ci] {
			if seen[b.Digest] {
				continue
			}
			blob := raw[b.Off : b.Off+b.Len]
			if dedup.Sum(blob) != b.Digest {
				return fmt.Errorf("%s: %w: blob %s digest mismatch", name, repository.ErrCorrupt, b.Digest)
			}
			seen[b.Digest] = true
			w.Add(ctx, b.Digest, blob)
		}
	}
	return nil
}
