package backup

import "context"

// Verify runs Verify on the scanner's repository and catalog while the
// scanner holds off, as Purge does: no record is processed, shipped,
// compacted or snapshotted meanwhile, so a running server's backup is
// checked at one position and --fix never takes an object the scanner is
// writing for an orphan. Mail keeps flowing; the backup catches up after.
func (s *Scanner) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	s.maint.Lock()
	defer s.maint.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ship(ctx); err != nil {
		return VerifyReport{}, err
	}
	return Verify(ctx, s.repo, s.cat, opts)
}
