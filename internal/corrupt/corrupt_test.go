package corrupt_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm/packvol"
	"github.com/tidemark/tidemark/internal/corrupt"
	"github.com/tidemark/tidemark/redolog"
)

// TestEveryErrCorrupt: each package's ErrCorrupt, wrapped as the packages
// wrap it, is corruption and still itself; other errors are not.
func TestEveryErrCorrupt(t *testing.T) {
	all := []error{redolog.ErrCorrupt, dedup.ErrCorrupt, event.ErrCorrupt, engine.ErrCorrupt, repository.ErrCorrupt, packvol.ErrCorrupt}
	for i, e := range all {
		w := fmt.Errorf("read thing 42: %w: checksum", e)
		if !corrupt.Is(w) || !errors.Is(w, corrupt.ErrCorrupt) {
			t.Errorf("%v is not marked corrupt", w)
		}
		if !errors.Is(w, e) {
			t.Errorf("%v lost its own sentinel", w)
		}
		for j, o := range all {
			if i != j && errors.Is(w, o) {
				t.Errorf("%v matches %v", w, o)
			}
		}
	}
	for _, e := range []error{redolog.ErrTruncated, engine.ErrNotFound, repository.ErrNotFound, errors.New("corrupt")} {
		if corrupt.Is(fmt.Errorf("x: %w", e)) {
			t.Errorf("%v taken for corruption", e)
		}
	}
}
