package catalog

import (
	"context"

	"github.com/tidemark/tidemark/engine/event"
)

// COS returns the classes of service the catalog holds now (the catalog
// keeps their current definition only, not their history), by name. An
// export carries the ones its accounts use; an external restore creates
// them on the target before the accounts.
func (c *Catalog) COS(ctx context.Context) ([]event.COS, error) {
	var out []event.COS
	err := scanPrefixRange(c.db, []byte{pCOS}, func(k, v []byte) error {
		var cs event.COS
		if err := cborDec.Unmarshal(v, &cs); err != nil {
			return err
		}
		out = append(out, cs)
		return nil
	})
	return out, err
}
