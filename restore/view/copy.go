package view

import (
	"context"
	"fmt"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/restore"
)

// CopyBack restores the messages of box with the given UIDs into the live
// folder of the account at path, exactly as `tidemark restore item` would
// restore each: a restore event (recorded in the redo log, backed up,
// seen at once by live sessions) with the original bytes, the flags the
// view shows less \Deleted, and the internal date, regardless of the
// quota; a missing folder is created. Messages keep the order of uids.
//
// It returns the restore's report and the new items at the index of their
// UID (the zero Item for one that was not restored: the report says why;
// Report.Incomplete is then non-nil). A UID box does not hold fails with
// ErrNoMessage, and a box of another account's view with ErrNoFolder,
// before anything is written.
func (a *Account) CopyBack(ctx context.Context, box *Mailbox, uids []uint32, path string) (restore.Report, []engine.Item, error) {
	if a.s.restorer == nil {
		return restore.Report{}, nil, fmt.Errorf("view: copy-back is not available on this server")
	}
	if box.acct != a.id {
		return restore.Report{}, nil, fmt.Errorf("%w: the folder belongs to another account's view", ErrNoFolder)
	}
	if err := checkPath(path); err != nil {
		return restore.Report{}, nil, fmt.Errorf("view: copy-back target: %w: %v", engine.ErrInvalid, err)
	}
	refs := make([]restore.ItemRef, len(uids))
	for i, uid := range uids {
		j, ok := box.Find(uid)
		if !ok {
			return restore.Report{}, nil, fmt.Errorf("%w: UID %d", ErrNoMessage, uid)
		}
		m := box.Messages[j]
		refs[i] = restore.ItemRef{Item: m.Item, At: m.version}
	}
	return a.s.restorer.Items(ctx, a.id, refs, normPath(path))
}
