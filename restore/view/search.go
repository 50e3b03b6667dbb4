package view

import (
	"context"

	"github.com/tidemark/tidemark/engine"
)

// SEARCH, SORT and THREAD over a view folder use the engine's own
// evaluator (engine.SearchIn, SortIn, ThreadIn) with the repository as the
// reader of bytes, so they answer exactly as on a live folder: flags,
// dates, sizes and UIDs decided from the snapshot, bytes read only when
// the criteria leave the answer open. Results are view UIDs.

// items presents box's messages to the engine's evaluator; an item's id
// is its index + 1, so results map back to messages whatever the ids of
// the backup.
func items(box *Mailbox) []engine.Item {
	out := make([]engine.Item, len(box.Messages))
	for i, m := range box.Messages {
		out[i] = engine.Item{ID: uint64(i + 1), UID: m.UID, Flags: m.Flags, InternalDate: m.InternalDate,
			Size: m.Size, Digest: m.Digest}
	}
	return out
}

// Search returns the UIDs of box's messages that match c (nil: all), in
// UID order.
func (a *Account) Search(ctx context.Context, box *Mailbox, c *engine.SearchCriteria) ([]uint32, error) {
	found, err := engine.SearchIn(ctx, items(box), a.s.blobs, c)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(found))
	for i, it := range found {
		out[i] = it.UID
	}
	return out, nil
}

// Sort returns the UIDs of box's messages that match c (nil: all),
// ordered by keys (RFC 5256).
func (a *Account) Sort(ctx context.Context, box *Mailbox, keys []engine.SortKey, c *engine.SearchCriteria) ([]uint32, error) {
	ids, err := engine.SortIn(ctx, items(box), a.s.blobs, keys, c)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(ids))
	for i, id := range ids {
		out[i] = box.Messages[id-1].UID
	}
	return out, nil
}

// Thread threads box's messages that match c (nil: all); the forest names
// view UIDs in Thread.Item.
func (a *Account) Thread(ctx context.Context, box *Mailbox, alg engine.ThreadAlgorithm, c *engine.SearchCriteria) ([]*engine.Thread, error) {
	ts, err := engine.ThreadIn(ctx, items(box), a.s.blobs, alg, c)
	if err != nil {
		return nil, err
	}
	var rename func([]*engine.Thread)
	rename = func(ts []*engine.Thread) {
		for _, t := range ts {
			if t.Item != 0 {
				t.Item = uint64(box.Messages[t.Item-1].UID)
			}
			rename(t.Children)
		}
	}
	rename(ts)
	return ts, nil
}
