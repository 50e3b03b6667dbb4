package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/redolog"
)

// Scanner is the real-time scanner: it follows the redo log, ships sealed
// segments and blobs to the repository, keeps the catalog and publishes the
// safe LSN. Run drives it; the other methods are safe to call meanwhile.
type Scanner struct {
	repo  *repository.Repository
	cat   *catalog.Catalog
	log   LogSource
	blobs repository.BlobSource
	src   Source
	o     Options

	mu        sync.Mutex // held while records are processed, shipped or scanned
	tx        *catalog.Txn
	open      []redolog.Record
	openBytes int
	openSince time.Time
	pos       repository.Position // shipped and applied
	processed uint64              // last LSN in the open segment's range
	lastTime  int64               // time of the last processed record
	batchBlob map[dedup.Digest]bool
	rescan    []uint64

	maint        sync.Mutex           // compaction, pack merges, snapshots and purge
	supersededAt map[string]time.Time // segment → when first seen superseded (under maint)
	mergeBad     map[string]bool      // packs a merge could not read (under maint)
	bornMu       sync.Mutex
	packBorn     map[string]time.Time // pack → when written or first listed (packmerge.go)

	pack      *repository.PackWriter // nil for a format 1 repository (loose blobs only)
	uploadSem chan struct{}          // bounds concurrent blob uploads
	uploads   sync.WaitGroup         // blob uploads of the open batch
	upMu      sync.Mutex
	upDone    []uploaded
	upErr     error

	enabled   atomic.Bool
	scanDue   atomic.Bool
	safe      atomic.Uint64
	shipped   atomic.Int64 // time of the last shipped record, unix ns
	pending   atomic.Int64 // time of the oldest processed, unshipped record, unix ns; 0 if none
	figures   figureCache  // repository figures for Status (statuscache.go)
	failing   atomic.Pointer[string]
	stopped   atomic.Pointer[string] // a permanent error stopped the scanner
	wake      chan struct{}
	stats     scannerStats
	lastSnap  time.Time
	segHeader sync.Map // segment name → header (compaction)
}

type scannerStats struct {
	segments atomic.Int64
	blobs    atomic.Int64
	records  atomic.Int64
	scans    atomic.Int64
}

// New makes a scanner over an open repository and catalog. blobs
// and src may be nil in tests that need neither (no blob-less records, no
// SmartScan).
func New(repo *repository.Repository, cat *catalog.Catalog, log LogSource, blobs repository.BlobSource, src Source, opts *Options) (*Scanner, error) {
	if opts != nil && opts.Owner != nil {
		// Before the catalog catches up: a refused server must not take
		// another history's records into its catalog.
		if err := repo.CheckStillOwner(context.Background(), *opts.Owner); err != nil {
			return nil, err
		}
	}
	if err := cat.BindRepository(repo.ID()); err != nil {
		return nil, err
	}
	s := &Scanner{repo: repo, cat: cat, log: log, blobs: blobs, src: src, o: opts.withDefaults(), wake: make(chan struct{}, 1)}
	s.uploadSem = make(chan struct{}, s.o.Uploads)
	s.mergeBad, s.packBorn = map[string]bool{}, map[string]time.Time{}
	if repo.Packed() {
		s.pack = repository.NewPackWriter(repo, func(ctx context.Context, name string, b []byte) error {
			err := s.retry(ctx, "put pack", func() error { return repo.PutObject(ctx, name, b) })
			if err == nil {
				s.bornMu.Lock()
				s.packBorn[name] = s.o.Now()
				s.bornMu.Unlock()
			}
			return err
		})
	}
	s.enabled.Store(true)
	pos, err := cat.CatchUp(context.Background(), repo)
	if err != nil {
		return nil, fmt.Errorf("scanner: catch up catalog: %w", err)
	}
	s.setShipped(pos)
	s.processed = pos.LSN
	if cat.NeedsScan() {
		s.scanDue.Store(true)
	}
	return s, nil // lastSnap zero: the first maintenance pass writes a snapshot
}

func (s *Scanner) setShipped(p repository.Position) {
	s.pos = p
	s.safe.Store(p.LSN)
	s.shipped.Store(p.Time)
	s.pending.Store(0) // every processed record is shipped
}

// SafeLSN is the LSN up to which every record is durable in the
// repository; the engine may delete primary blobs and truncate the redo
// log below it. While the scanner is disabled it returns the largest LSN:
// nothing is held for a scanner that will SmartScan when re-enabled.
func (s *Scanner) SafeLSN() uint64 {
	if !s.enabled.Load() {
		return ^uint64(0)
	}
	return s.safe.Load()
}

// ProcessedLSN is the last record the scanner has taken into its open
// segment (or shipped): it runs ahead of SafeLSN by the open segment.
func (s *Scanner) ProcessedLSN() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.processed
}

// SetEnabled turns the scanner on or off at run time. Turning it on runs
// a SmartScan before tailing resumes.
func (s *Scanner) SetEnabled(on bool) {
	if s.enabled.Swap(on) == on {
		return
	}
	if on {
		s.scanDue.Store(true)
	} else {
		_ = s.cat.SetNeedsScan()
	}
	s.poke()
}

// Enabled reports whether the scanner runs.
func (s *Scanner) Enabled() bool { return s.enabled.Load() }

func (s *Scanner) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run follows the log until ctx ends, shipping as it goes. It returns
// ctx's error, or an error that retrying cannot cure (a corrupt log record).
func (s *Scanner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	bg, stop := context.WithCancel(ctx)
	defer stop()
	if len(s.o.CompactLevels) > 0 || s.o.SnapshotInterval > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.maintain(bg) }()
	}
	var rd repository.LogReader
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.enabled.Load() {
			if rd != nil {
				rd.Close()
				rd = nil
			}
			select {
			case <-ctx.Done():
			case <-s.wake:
			}
			continue
		}
		if s.scanDue.Load() && s.src != nil {
			if _, err := s.Scan(ctx, 0); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if errors.Is(err, repository.ErrNotOwner) {
					return err
				}
				if s.stopped.Load() != nil {
					return err // a repository write stopped the scanner
				}
				if hsm.IsPermanent(err) {
					return s.stop(fmt.Errorf("smartscan: %w", err))
				}
				s.o.Logger.Error("backup: smartscan failed, retrying", "err", err)
				s.sleep(ctx, s.o.MaxBackoff)
				continue
			}
		}
		if rd == nil {
			var err error
			s.mu.Lock()
			from := s.processed + 1
			s.mu.Unlock()
			rd, err = s.log.Tail(from)
			if repository.IsTruncated(err) {
				s.o.Logger.Warn("backup: redo log no longer holds the scanner's position; running a SmartScan", "from", from, "reason", err)
				s.scanDue.Store(true)
				if s.src == nil {
					return fmt.Errorf("scanner: %w and no SmartScan source", err)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("scanner: tail log: %w", err)
			}
		}
		if err := s.step(ctx, rd); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if repository.IsTruncated(err) {
				rd.Close()
				rd = nil
				continue
			}
			return err
		}
	}
}

// step reads at most one record (waiting no longer than the open
// segment's deadline) and ships when the segment is due.
func (s *Scanner) step(ctx context.Context, rd repository.LogReader) error {
	s.mu.Lock()
	wait := time.Second
	holding := len(s.open) > 0 || s.processed > s.pos.LSN
	since := s.openSince
	if holding {
		wait = s.o.ShipInterval - s.o.Pacer.Now().Sub(since)
	}
	s.mu.Unlock()
	var rec redolog.Record
	var err error
	if wait > 0 {
		// The deadline is on the pacer's clock, not the context's. A
		// pacer moved by hand may pass the deadline between computing
		// the wait and setting the timer: look again once it is set.
		rctx, cancel := context.WithCancel(ctx)
		stop := s.o.Pacer.AfterFunc(wait, cancel)
		if holding && s.o.Pacer.Now().Sub(since) >= s.o.ShipInterval {
			cancel()
		}
		rec, err = rd.Next(rctx)
		if errors.Is(err, context.Canceled) && rctx.Err() != nil && ctx.Err() == nil {
			err = context.DeadlineExceeded // the pacer's timer, not the caller
		}
		stop()
		cancel()
	} else {
		err = context.DeadlineExceeded
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		if rec.LSN <= s.processed {
			return nil // already covered by a SmartScan or a catch-up
		}
		if rec.LSN != s.processed+1 && s.processed != 0 {
			return fmt.Errorf("scanner: log gave lsn %d after %d", rec.LSN, s.processed)
		}
		if err := s.process(ctx, rec); err != nil {
			return err
		}
		if s.openBytes >= s.o.ShipBytes || s.o.Pacer.Now().Sub(s.openSince) >= s.o.ShipInterval {
			return s.ship(ctx)
		}
		return nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		if s.processed > s.pos.LSN && s.o.Pacer.Now().Sub(s.openSince) >= s.o.ShipInterval {
			return s.ship(ctx)
		}
		if !s.enabled.Load() || s.scanDue.Load() {
			return nil
		}
		return nil
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// retry runs f under the one retry policy (hsm.Retry) until it
// succeeds, fails permanently or ctx ends, backing off between tries
// (Options.MinBackoff to MaxBackoff); the engine keeps running meanwhile
// and Status shows the failure. A permanent error (permission refused,
// corruption, an object that should be there and is not) is not retried:
// the scanner stops, says so in the log and in Status (state "stopped"),
// and Run returns the error; the administrator fixes the cause and
// restarts the server.
func (s *Scanner) retry(ctx context.Context, what string, f func() error) error {
	err := hsm.Retry(ctx, hsm.RetryOptions{MaxAttempts: -1, InitialBackoff: s.o.MinBackoff, MaxBackoff: s.o.MaxBackoff,
		OnRetry: func(_, _ string, attempt int, err error) {
			// One error when the repository starts failing and one info
			// line when it answers again (below); the retries between
			// are debug lines, however long the outage.
			msg := fmt.Sprintf("%s: %v", what, err)
			if s.failing.Swap(&msg) == nil {
				s.o.Logger.Error("backup: repository write failed; mail is still accepted and kept for the backup, retrying until it answers",
					"op", what, "err", err)
			} else {
				s.o.Logger.Debug("backup: repository write failed again", "op", what, "attempt", attempt, "err", err)
			}
		}}, what, "", func(context.Context) error { return f() })
	if err == nil {
		if s.failing.Load() != nil {
			s.o.Logger.Info("backup: repository reachable again", "op", what)
			s.failing.Store(nil)
		}
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return s.stop(fmt.Errorf("%s: %w", what, err))
}

// stop records a permanent error: the scanner stops and Status says why.
func (s *Scanner) stop(err error) error {
	msg := fmt.Sprintf("%v (permanent: not retried; fix the cause, then restart the server)", err)
	s.stopped.Store(&msg)
	s.o.Logger.Error("backup: scanner stopped on a permanent error; mail is still accepted but not backed up until the cause is fixed and the server restarted",
		"err", err)
	return fmt.Errorf("scanner stopped: %w", err)
}

func (s *Scanner) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
