package scanner

import (
	"context"
	"errors"

	"github.com/tidemark/tidemark/backup/repository"
)

// checkOwner fails with a Refusal when the scanner's server no longer owns
// the repository (Options.Owner; no check without one). The scanner calls
// it before every segment or scan object it stores, so a server whose
// repository was taken over stops extending a history that is no longer
// its own. A repository that cannot be read is retried like a write.
func (s *Scanner) checkOwner(ctx context.Context) error {
	if s.o.Owner == nil {
		return nil
	}
	var refusal error
	err := s.retry(ctx, "read owner record", func() error {
		err := s.repo.CheckStillOwner(ctx, *s.o.Owner)
		if errors.Is(err, repository.ErrNotOwner) {
			refusal = err
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return refusal
}
