package scanner

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/redolog"
)

// maintain runs compaction, pack merges and periodic snapshots until ctx
// ends.
func (s *Scanner) maintain(ctx context.Context) {
	// A pass every quarter of the smallest window (7.5 s by default): a
	// window's segments are merged at most that long after it closes.
	// Each pass lists the repository's segments, which on a busy server
	// (a segment every 50 ms) is thousands of names, and on S3 a LIST
	// request: listing once a second per level cost a busy server 3-4 %
	// of a core.
	tick := time.Second
	if len(s.o.CompactLevels) > 0 {
		tick = max(s.o.CompactLevels[0]/4, 10*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	// The first pass comes a second after the start (or sooner with
	// shorter windows): it stores the first catalog snapshot, with the
	// configuration, which `backup config` and a restore of the server
	// look for.
	first := time.NewTimer(min(tick, time.Second))
	defer first.Stop()
	var lastMerge time.Time
	// During a repository outage every pass fails: each job logs its
	// first failure and every tenth in a row after it, like the scanner's
	// write retries, and says when it works again.
	var compactLog, mergeLog, snapLog failureLog
	for {
		select {
		case <-ctx.Done():
			return
		case <-first.C:
		case <-t.C:
		}
		_, cwin, cerr := s.compactLevels(ctx, s.o.CompactLevels)
		if ctx.Err() != nil {
			return
		}
		compactLog.report(s.o.Logger, "compaction", cerr, "window", cwin)
		// Pack maintenance lists packs/ and blobs/ afresh: every half
		// of the smallest window is often enough.
		if len(s.o.CompactLevels) > 0 && s.o.Now().Sub(lastMerge) >= s.o.CompactLevels[0]/2 {
			lastMerge = s.o.Now()
			_, err := s.MergePacks(ctx)
			if ctx.Err() != nil {
				return
			}
			mergeLog.report(s.o.Logger, "pack merge", err)
		}
		if s.o.SnapshotInterval > 0 && s.o.Now().Sub(s.lastSnap) >= s.o.SnapshotInterval {
			_, err := s.Snapshot(ctx)
			if ctx.Err() != nil {
				return
			}
			snapLog.report(s.o.Logger, "snapshot", err)
		}
	}
}

// failureLog counts the consecutive failures of one maintenance job.
type failureLog struct{ n int }

// report logs err (nil: the job worked) for the job named what: the
// first failure and every tenth in a row, then once when it works again.
func (f *failureLog) report(log *slog.Logger, what string, err error, args ...any) {
	if err == nil {
		if f.n > 0 {
			log.Info("backup: "+what+" works again", "failures", f.n)
		}
		f.n = 0
		return
	}
	f.n++
	if f.n == 1 || f.n%10 == 0 {
		log.Warn("backup: "+what+" failed", append(args, "failures", f.n, "err", err)...)
	}
}

// segHead returns a segment's header, read with one ranged get and cached.
func (s *Scanner) segHead(ctx context.Context, name string) (repository.Header, error) {
	if h, ok := s.segHeader.Load(name); ok {
		return h.(repository.Header), nil
	}
	rc, err := s.repo.Volume().GetRange(ctx, name, 0, repository.ObjHeaderSize)
	if err != nil {
		return repository.Header{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return repository.Header{}, err
	}
	h, err := repository.DecodeHeader(b)
	if err != nil {
		return repository.Header{}, fmt.Errorf("%s: %w", name, err)
	}
	s.segHeader.Store(name, h)
	return h, nil
}

// Compact merges, for one window w, runs of consecutive shipped segments
// whose records all fall in the same past window into one segment. The
// merged segment is stored and the small ones stay: a reader sees both
// (chain picks the larger) until dropSuperseded deletes them after
// Options.SupersededGrace. It returns how many segments were merged.
func (s *Scanner) Compact(ctx context.Context, w time.Duration) (int, error) {
	n, _, err := s.compactLevels(ctx, []time.Duration{w})
	return n, err
}

// compactLevels compacts for each window of ws in turn, from one listing
// of the repository's segments: the segments a window merges into are
// added to it for the next window, as a new listing would show them. It
// returns how many segments were merged and, on an error, its window.
func (s *Scanner) compactLevels(ctx context.Context, ws []time.Duration) (int, time.Duration, error) {
	if len(ws) == 0 {
		return 0, 0, nil
	}
	s.maint.Lock()
	defer s.maint.Unlock()
	segs, err := s.repo.Segments(ctx)
	if err != nil {
		return 0, ws[0], err
	}
	if segs, err = s.dropSuperseded(ctx, segs); err != nil {
		return 0, ws[0], err
	}
	// Segments purge folded into a snapshot wait for deletion: merging
	// them would only write a segment the next purge folds again.
	pending, err := s.cat.Pending()
	if err != nil {
		return 0, ws[0], err
	}
	if len(pending) > 0 {
		kept := segs[:0:0]
		for _, seg := range segs {
			if _, waiting := pending[seg.Name]; !waiting {
				kept = append(kept, seg)
			}
		}
		segs = kept
	}
	merged := 0
	for _, w := range ws {
		n, made, err := s.compactWindow(ctx, w, segs)
		merged += n
		for _, m := range made {
			if !slices.ContainsFunc(segs, func(x repository.SegmentInfo) bool { return x.Name == m.Name }) {
				segs = append(segs, m)
			}
		}
		if err != nil {
			return merged, w, err
		}
	}
	return merged, 0, nil
}

// compactWindow merges, for window w, the runs among segs; it returns
// how many segments it merged and the segments it wrote. Called with
// s.maint held.
func (s *Scanner) compactWindow(ctx context.Context, w time.Duration, segs []repository.SegmentInfo) (int, []repository.SegmentInfo, error) {
	var made []repository.SegmentInfo
	shipped := s.safe.Load()
	var run []repository.SegmentInfo
	var runBucket int64 = -1
	merged := 0
	flush := func() error {
		if len(run) < 2 {
			run = run[:0]
			return nil
		}
		n, seg, err := s.merge(ctx, run)
		merged += n
		if err == nil {
			made = append(made, seg)
		}
		run = run[:0]
		return err
	}
	horizon := s.shipped.Load() // the newest shipped record's time
	for _, seg := range repository.Chain(segs, 0) {
		if seg.Last > shipped {
			break
		}
		h, err := s.segHead(ctx, seg.Name)
		if err != nil {
			return merged, made, err
		}
		b := h.FirstTime / int64(w)
		complete := (b+1)*int64(w) <= horizon && h.LastTime/int64(w) == b
		if !complete || b != runBucket || (len(run) > 0 && run[len(run)-1].Last+1 != seg.First) {
			if err := flush(); err != nil {
				return merged, made, err
			}
		}
		if complete {
			run = append(run, seg)
			runBucket = b
		} else {
			runBucket = -1
		}
	}
	err := flush()
	return merged, made, err
}

// merge writes one segment for run; the run's segments are now superseded.
func (s *Scanner) merge(ctx context.Context, run []repository.SegmentInfo) (int, repository.SegmentInfo, error) {
	var recs []redolog.Record
	for _, seg := range run {
		_, r, err := s.repo.ReadRecords(ctx, seg.Name)
		if err != nil {
			return 0, repository.SegmentInfo{}, err
		}
		recs = append(recs, r...)
	}
	first, last := run[0].First, run[len(run)-1].Last
	name := repository.SegmentName(first, last)
	obj := repository.EncodeRecords(repository.KindSegment, first, last, recs)
	if err := s.repo.PutObject(ctx, name, obj); err != nil {
		return 0, repository.SegmentInfo{}, err
	}
	if s.supersededAt == nil {
		s.supersededAt = map[string]time.Time{}
	}
	for _, seg := range run {
		if _, ok := s.supersededAt[seg.Name]; !ok && seg.Name != name {
			s.supersededAt[seg.Name] = s.o.Now()
		}
	}
	return len(run), repository.SegmentInfo{Name: name, First: first, Last: last, Size: int64(len(obj))}, nil
}

// superseded returns the segments another segment covers entirely (the
// pieces compaction merged, or a shorter segment shipped again longer
// after a crash).
func superseded(segs []repository.SegmentInfo) []repository.SegmentInfo {
	s := append([]repository.SegmentInfo(nil), segs...)
	sort.Slice(s, func(i, j int) bool {
		if s[i].First != s[j].First {
			return s[i].First < s[j].First
		}
		return s[i].Last > s[j].Last
	})
	var out []repository.SegmentInfo
	var reach uint64
	for i, seg := range s {
		if i > 0 && seg.Last <= reach {
			out = append(out, seg)
			continue
		}
		reach = max(reach, seg.Last)
	}
	return out
}

// dropSuperseded deletes the superseded segments first seen superseded at
// least Options.SupersededGrace ago (by this scanner: after a restart the
// grace starts again) and returns segs without them. Called with s.maint
// held.
func (s *Scanner) dropSuperseded(ctx context.Context, segs []repository.SegmentInfo) ([]repository.SegmentInfo, error) {
	now := s.o.Now()
	if s.supersededAt == nil {
		s.supersededAt = map[string]time.Time{}
	}
	gone := map[string]bool{}
	seen := map[string]bool{}
	for _, seg := range superseded(segs) {
		seen[seg.Name] = true
		at, ok := s.supersededAt[seg.Name]
		if !ok {
			s.supersededAt[seg.Name] = now
			at = now
		}
		if s.o.SupersededGrace > 0 && now.Sub(at) < s.o.SupersededGrace {
			continue
		}
		if err := s.repo.DeleteObject(ctx, seg.Name); err != nil {
			return segs, err
		}
		s.segHeader.Delete(seg.Name)
		delete(s.supersededAt, seg.Name)
		gone[seg.Name] = true
	}
	for name := range s.supersededAt {
		if !seen[name] {
			delete(s.supersededAt, name) // deleted by purge meanwhile
		}
	}
	if len(gone) == 0 {
		return segs, nil
	}
	out := segs[:0:0]
	for _, seg := range segs {
		if !gone[seg.Name] {
			out = append(out, seg)
		}
	}
	return out, nil
}

// Snapshot writes a catalog snapshot at the shipped position now.
func (s *Scanner) Snapshot(ctx context.Context) (string, error) {
	s.maint.Lock()
	defer s.maint.Unlock()
	var cfg repository.ConfigSnapshot
	if s.o.Config != nil {
		c, err := s.o.Config()
		if err != nil {
			return "", fmt.Errorf("snapshot config: %w", err)
		}
		cfg = c
	}
	s.cat.Lock()
	name, err := s.cat.WriteSnapshot(ctx, s.repo, cfg, s.o.Now().UnixNano())
	s.cat.Unlock()
	if err == nil {
		s.lastSnap = s.o.Now()
	}
	return name, err
}

// reap carries out the scanner's due deletions; loose blobs are checked
// and deleted under s.mu, so a blob the open batch is storing again is
// not deleted under it.
func (s *Scanner) reap(ctx context.Context) (int, error) {
	return catalog.ReapDeletes(ctx, s.repo, s.cat, s.o.Now(),
		func(f func() error) error { s.mu.Lock(); defer s.mu.Unlock(); return f() },
		func(d dedup.Digest) bool { return s.batchBlob[d] })
}
