package catalog

import (
	"context"
	"fmt"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/redolog"
)

// CatchUp applies to the catalog every repository record after its
// position, committing once per object, and returns the new position.
func (c *Catalog) CatchUp(ctx context.Context, r *repository.Repository) (repository.Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos, err := c.position(c.db)
	if err != nil {
		return pos, err
	}
	tx := c.NewTxn()
	n := 0
	commit := func() error {
		if n == 0 {
			return nil
		}
		if err := tx.set(metaPosition, pos); err != nil {
			return err
		}
		if err := tx.b.Commit(syncWrite); err != nil {
			return fmt.Errorf("catalog commit: %w", err)
		}
		tx.b.Close()
		tx, n = c.NewTxn(), 0
		return nil
	}
	err = r.Replay(ctx, pos, 0, func(rec redolog.Record, scanTime int64) error {
		if err := tx.Apply(rec); err != nil {
			return err
		}
		pos = repository.Position{LSN: rec.LSN, ScanTime: scanTime, Time: rec.Time}
		if n++; n >= 4096 {
			return commit()
		}
		return nil
	})
	if err == nil {
		err = commit()
	}
	tx.b.Close()
	return pos, err
}
