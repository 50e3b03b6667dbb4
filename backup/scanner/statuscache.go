package scanner

import (
	"context"
	"sync"
	"time"
)

// Computing the repository figures (sizes, object counts, ratios) lists the
// whole repository and walks the catalog, so Scanner.Status serves them
// from a cache refreshed in the background: once StatusMinAge old if the
// repository was written since (shipping, maintenance), and once
// StatusMaxAge old in any case. Position and lag are always live.
const (
	StatusMinAge = 5 * time.Second
	StatusMaxAge = 60 * time.Second
)

// firstFiguresWait bounds how long Status waits for figures that were never
// computed before answering without them.
const firstFiguresWait = 2 * time.Second

// figureCache holds the last repository figures and the one refresh that
// may be running.
type figureCache struct {
	mu      sync.Mutex
	st      Status // only the figure fields are meaningful
	at      time.Time
	lsn     uint64 // the shipped LSN when st was computed
	writes  uint64 // the repository's write count when st was computed
	err     error
	running chan struct{} // closed when the running refresh ends; nil when none
}

// Status is the scanner's live view (Live) with cached repository figures
// (see StatusMinAge); it is cheap enough to poll every second. A stale
// cache is refreshed in the background; only the very first call, or one
// with fresh set, waits for the figures, and at most a moment (fresh: until
// ctx ends). FiguresTime says when the figures were computed (zero: not
// yet).
func (s *Scanner) Status(ctx context.Context, fresh bool) Status {
	st := s.Live()
	c := &s.figures
	c.mu.Lock()
	age := s.o.Now().Sub(c.at)
	stale := fresh || c.at.IsZero() || age >= StatusMaxAge || age >= StatusMinAge && (c.lsn != st.ShippedLSN || c.writes != s.repo.Writes())
	if stale && c.running == nil {
		done := make(chan struct{})
		c.running = done
		go s.refreshFigures(done)
	}
	wait := c.running
	first := c.at.IsZero()
	c.mu.Unlock()
	if fresh && wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	} else if first && wait != nil {
		t := time.NewTimer(firstFiguresWait)
		select {
		case <-wait:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() {
		copyFigures(&st, &c.st)
		st.FiguresTime = c.at
	}
	if c.err != nil && st.LastError == "" {
		st.LastError = "repository sizes unavailable: " + c.err.Error()
	}
	return st
}

// refreshFigures computes the figures with a deadline (a stalled S3
// server must not pin a goroutine for ever) and publishes them.
func (s *Scanner) refreshFigures(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var st Status
	lsn, writes := s.safe.Load(), s.repo.Writes()
	st.ShippedLSN = lsn // keeps RepositoryStatus from reading the catalog's position
	err := RepositoryStatus(ctx, s.repo, s.cat, &st)
	c := &s.figures
	c.mu.Lock()
	if err == nil {
		c.st, c.at, c.lsn, c.writes = st, s.o.Now(), lsn, writes
	}
	c.err = err
	c.running = nil
	c.mu.Unlock()
	close(done)
}

// copyFigures copies what RepositoryStatus computes from src to dst.
func copyFigures(dst, src *Status) {
	dst.Segments, dst.Scans, dst.Snapshots = src.Segments, src.Scans, src.Snapshots
	dst.Encryption = src.Encryption
	dst.Blobs, dst.Packs = src.Blobs, src.Packs
	dst.RepositoryBytes, dst.BlobBytes = src.RepositoryBytes, src.BlobBytes
	dst.LogicalBytes, dst.UniqueRawBytes = src.LogicalBytes, src.UniqueRawBytes
	dst.DedupRatio, dst.CompressionRatio = src.DedupRatio, src.CompressionRatio
}
