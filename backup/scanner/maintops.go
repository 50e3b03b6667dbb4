package scanner

import (
	"context"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
)

// Verify runs Verify on the scanner's repository and catalog while the
// scanner holds off, as Purge does: no record is processed, shipped,
// compacted or snapshotted meanwhile, so a running server's backup is
// checked at one position and --fix never takes an object the scanner is
// writing for an orphan. Mail keeps flowing; the backup catches up after.
func (s *Scanner) Verify(ctx context.Context, opts maint.VerifyOptions) (maint.VerifyReport, error) {
	s.maint.Lock()
	defer s.maint.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ship(ctx); err != nil {
		return maint.VerifyReport{}, err
	}
	return maint.Verify(ctx, s.repo, s.cat, opts)
}

// Purge runs Purge while the scanner holds off: no record is processed,
// compacted or snapshotted meanwhile.
func (s *Scanner) Purge(ctx context.Context, retention time.Duration) (maint.PurgeReport, error) {
	return s.PurgeWith(ctx, retention, nil)
}

// PurgeWith is Purge reporting to progress (maint.PurgeOptions.Progress).
func (s *Scanner) PurgeWith(ctx context.Context, retention time.Duration, progress maint.ProgressFunc) (maint.PurgeReport, error) {
	s.maint.Lock()
	defer s.maint.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ship(ctx); err != nil {
		return maint.PurgeReport{}, err
	}
	var cfg repository.ConfigSnapshot
	if s.o.Config != nil {
		c, err := s.o.Config()
		if err != nil {
			return maint.PurgeReport{}, fmt.Errorf("purge: snapshot config: %w", err)
		}
		cfg = c
	}
	grace := s.o.SupersededGrace
	return maint.Purge(ctx, s.repo, s.cat, maint.PurgeOptions{Retention: retention, Now: s.o.Now(), Config: cfg, Grace: grace, Progress: progress})
}
