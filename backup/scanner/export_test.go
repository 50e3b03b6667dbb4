package scanner

import (
	"context"
	"time"
)

// CompactLevels runs one maintenance pass's compaction over windows ws.
func (s *Scanner) CompactLevels(ctx context.Context, ws []time.Duration) (int, error) {
	n, _, err := s.compactLevels(ctx, ws)
	return n, err
}
