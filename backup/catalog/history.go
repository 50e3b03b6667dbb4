package catalog

import (
	"context"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// AccountHistory returns the versions of every item of an account
// (created, changed, moved, deleted), by item id and then oldest first, in
// one pass over the catalog: what a timeline of the account draws. It reads
// at most limit versions, those of the newest items (ids grow with time),
// and reports truncated when there were more. FolderPath is not filled in.
func (c *Catalog) AccountHistory(ctx context.Context, acct uint64, limit int) (vs []ItemVersion, truncated bool, err error) {
	p := key(pItem, acct)
	it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	for it.Last(); it.Valid(); it.Prev() {
		if len(vs) == limit {
			truncated = true
			break
		}
		if len(vs)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, false, err
			}
		}
		_, item, lsn, ord, ok := parseVersionKey(it.Key())
		if !ok {
			continue
		}
		var r ItemRec
		if err := cborDec.Unmarshal(it.Value(), &r); err != nil {
			return nil, false, err
		}
		vs = append(vs, toItem(acct, item, lsn, ord, r))
	}
	if err := it.Error(); err != nil {
		return nil, false, err
	}
	slices.Reverse(vs)
	return vs, truncated, nil
}
