package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// InPlace rolls account acct back to its state at t (the classic
// restore-to-time): folders are renamed, created and deleted, items moved,
// re-flagged, brought back from the backup and expunged until the account
// matches t, with every folder's items in their order at t. Items that
// stayed where they were keep their ids and UIDs. The state before the
// rollback stays in the backup, so a rollback can itself be rolled back.
// acct must be live in the engine; its password hash and provisioning
// attributes are also set back. An account in maintenance stays in
// maintenance: whoever put it there for the rollback (a live server's
// operation) sets its status afterwards.
func (r *Restorer) InPlace(ctx context.Context, acct uint64, t time.Time) (Report, error) {
	st, err := r.cat.AccountAt(ctx, acct, t)
	if err != nil {
		if errors.Is(err, repository.ErrNotFound) {
			err = ErrNotInBackup
		}
		return Report{}, fmt.Errorf("roll back account %d to %s: %w", acct, t.Format(time.RFC3339Nano), err)
	}
	a, err := r.eng.GetAccount(ctx, acct)
	if err != nil {
		return Report{}, fmt.Errorf("roll back account %d: %w", acct, err)
	}
	rep := Report{Mode: "in-place", At: t}
	ar := AccountReport{Source: acct, SourceAddress: a.Address, Target: acct, TargetAddress: a.Address}
	if err := r.rollbackProvisioning(ctx, a, st.Version); err != nil {
		return rep, err
	}
	ids, err := r.rollbackFolders(ctx, acct, st.Folders, &ar)
	if err != nil {
		return rep, err
	}
	if err := r.rollbackItems(ctx, acct, st, ids, &ar); err != nil {
		return rep, err
	}
	if err := r.dropRollbackFolders(ctx, acct, ids); err != nil {
		return rep, err
	}
	if err := r.restoreSubscriptions(ctx, acct, st.Subscriptions, true); err != nil {
		return rep, err
	}
	rep.add(ar)
	return rep, nil
}

func (r *Restorer) rollbackProvisioning(ctx context.Context, a engine.Account, v catalog.AccountVersion) error {
	src := v.Account
	if src.PasswordHash != "" {
		if err := r.eng.SetPasswordHash(ctx, a.ID, src.PasswordHash); err != nil {
			return fmt.Errorf("set password hash: %w", err)
		}
	}
	ch := engine.AccountChange{Status: &src.Status, Quota: &src.Quota, HideInGAL: &src.HideInGAL}
	if a.Status == event.StatusMaintenance {
		ch.Status = nil
	}
	attrs := map[string]string{}
	for k := range a.Attrs {
		attrs[k] = ""
	}
	for k, val := range src.Attrs {
		attrs[k] = val
	}
	if len(attrs) > 0 {
		ch.Attrs = attrs
	}
	if src.COS != a.COS && (src.COS == "" || r.hasCOS(ctx, src.COS)) {
		ch.COS = &src.COS
	}
	if _, err := r.eng.ModifyAccount(ctx, a.ID, ch); err != nil {
		return fmt.Errorf("modify account: %w", err)
	}
	return nil
}

// tmpFolder is where a folder in the way waits during a rollback.
func tmpFolder(id uint64) string { return fmt.Sprintf("tidemark-rollback-%d", id) }

// rollbackFolders gives acct the folder tree of want and returns, for each
// wanted folder id, the engine folder now holding that path. Folders kept
// at their path keep their id; folders that must move go through a
// temporary top-level name first, so renames never collide.
func (r *Restorer) rollbackFolders(ctx context.Context, acct uint64, want []catalog.FolderState, ar *AccountReport) (map[uint64]uint64, error) {
	have, err := r.eng.ListFolders(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	wantByID := map[uint64]catalog.FolderState{}
	for _, f := range want {
		wantByID[f.ID] = f
	}
	haveByID := map[uint64]engine.Folder{}
	for _, f := range have {
		haveByID[f.ID] = f
	}
	// A folder stays where it is when t had it at the same path and its
	// parent stays too (sorted by path: parents are decided first).
	sort.Slice(have, func(i, j int) bool { return have[i].Path < have[j].Path })
	kept := map[uint64]bool{}
	for _, f := range have {
		w, ok := wantByID[f.ID]
		if ok && normPath(w.Path) == normPath(f.Path) && (f.Parent == 0 || kept[f.Parent]) {
			kept[f.ID] = true
		}
	}
	for _, f := range have {
		if kept[f.ID] || normPath(f.Path) == "INBOX" {
			continue
		}
		if err := r.eng.RenameFolder(ctx, acct, f.ID, tmpFolder(f.ID)); err != nil {
			return nil, fmt.Errorf("move folder %s aside: %w", f.Path, err)
		}
	}
	ids := map[uint64]uint64{}
	for _, w := range want { // sorted by path
		if _, ok := haveByID[w.ID]; ok {
			if !kept[w.ID] && normPath(w.Path) != "INBOX" {
				if err := r.eng.RenameFolder(ctx, acct, w.ID, w.Path); err != nil {
					return nil, fmt.Errorf("rename folder to %s: %w", w.Path, err)
				}
				ar.Folders++
			}
			ids[w.ID] = w.ID
			continue
		}
		m, err := r.ensureFolders(ctx, acct, []catalog.FolderState{w}, ar, true)
		if err != nil {
			return nil, err
		}
		if id, ok := m[w.ID]; ok {
			ids[w.ID] = id
		}
	}
	now, err := r.eng.ListFolders(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	for _, f := range now {
		if w, ok := wantByID[f.ID]; ok && f.Subscribed != w.Subscribed {
			if err := r.eng.SetSubscribed(ctx, acct, f.ID, w.Subscribed); err != nil {
				return nil, fmt.Errorf("subscribe %s: %w", f.Path, err)
			}
		}
	}
	return ids, nil
}

type placed struct {
	folder uint64
	item   engine.Item
}

// rollbackItems makes every wanted folder hold exactly st's items in st's
// order: the longest prefix already in order stays, the rest is moved,
// copied in place or appended from the backup behind it; what st did not
// have is expunged.
func (r *Restorer) rollbackItems(ctx context.Context, acct uint64, st catalog.AccountState, ids map[uint64]uint64, ar *AccountReport) error {
	folders, err := r.eng.ListFolders(ctx, acct)
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}
	cur := map[uint64]placed{}
	inFolder := map[uint64][]engine.Item{}
	for _, f := range folders {
		items, err := r.eng.ListItems(ctx, acct, f.ID)
		if err != nil {
			return fmt.Errorf("list items of %s: %w", f.Path, err)
		}
		inFolder[f.ID] = items
		for _, it := range items {
			cur[it.ID] = placed{f.ID, it}
		}
	}
	wantSet := map[uint64]bool{}
	for _, it := range st.Items {
		wantSet[it.ID] = true
	}
	inbox, err := r.eng.FolderByPath(ctx, acct, engine.InboxName)
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	keep := map[uint64]bool{} // current item ids that end up in place
	bs := batchesFor(st.Items, func(it catalog.ItemVersion) (uint64, bool) {
		id, ok := ids[it.Folder]
		return id, ok
	}, inbox.ID)
	tl := newTally(ar, len(st.Items), r.opts)
	for _, b := range bs {
		var inOrder []uint64
		for _, it := range inFolder[b.folder] {
			if wantSet[it.ID] {
				inOrder = append(inOrder, it.ID)
			}
		}
		p := 0
		for p < len(inOrder) && p < len(b.items) && inOrder[p] == b.items[p].ID {
			p++
		}
		for i, v := range b.items {
			if i < p {
				keep[v.ID] = true
				r.setFlags(ctx, acct, b.folder, cur[v.ID].item, v, tl)
				continue
			}
			c, ok := cur[v.ID]
			if !ok {
				r.fillOne(ctx, acct, batch{folder: b.folder, path: b.path, items: []catalog.ItemVersion{v}}, tl)
				continue
			}
			var got []engine.Item
			if c.folder == b.folder {
				got, err = r.eng.Copy(ctx, acct, c.folder, []uint64{v.ID}, b.folder)
			} else {
				got, err = r.eng.Move(ctx, acct, c.folder, []uint64{v.ID}, b.folder)
				if err == nil {
					keep[v.ID] = true
				}
			}
			if err != nil || len(got) != 1 {
				if err == nil {
					err = fmt.Errorf("item vanished")
				}
				tl.failed(Failure{Item: v.ID, Folder: b.path, Reason: "not placed: " + err.Error()})
				continue
			}
			r.setFlags(ctx, acct, b.folder, got[0], v, tl)
		}
	}
	tl.finish()
	// Expunge what st did not have, and originals replaced by in-place copies.
	gone := map[uint64][]uint64{}
	for id, c := range cur {
		if !keep[id] {
			gone[c.folder] = append(gone[c.folder], id)
		}
	}
	for f, items := range gone {
		slices.Sort(items)
		removed, err := r.eng.Expunge(ctx, acct, f, items)
		if err != nil {
			return fmt.Errorf("expunge: %w", err)
		}
		ar.Removed += len(removed)
	}
	// Items that existed before and were only re-placed are not "removed".
	for id := range cur {
		if wantSet[id] && !keep[id] {
			ar.Removed--
		}
	}
	return nil
}

// setFlags gives a placed item v's flags and counts it restored.
func (r *Restorer) setFlags(ctx context.Context, acct, folder uint64, have engine.Item, v catalog.ItemVersion, tl *tally) {
	want := flagsWithout(v.Flags, nil)
	if !sameFlags(have.Flags, want) {
		if _, err := r.eng.StoreFlags(ctx, acct, folder, []uint64{have.ID}, engine.FlagsSet, want, 0); err != nil {
			tl.failed(Failure{Item: v.ID, Reason: "flags not set: " + err.Error()})
			return
		}
	}
	tl.restored()
}

func sameFlags(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// dropRollbackFolders deletes the folders moved aside that t did not have,
// deepest first (their items, if any, were not wanted).
func (r *Restorer) dropRollbackFolders(ctx context.Context, acct uint64, ids map[uint64]uint64) error {
	have, err := r.eng.ListFolders(ctx, acct)
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}
	wanted := map[uint64]bool{}
	for _, id := range ids {
		wanted[id] = true
	}
	sort.Slice(have, func(i, j int) bool { return strings.Count(have[i].Path, "/") > strings.Count(have[j].Path, "/") })
	for _, f := range have {
		if wanted[f.ID] || normPath(f.Path) == "INBOX" {
			continue
		}
		if err := r.eng.DeleteFolder(ctx, acct, f.ID); err != nil {
			return fmt.Errorf("delete folder %s: %w", f.Path, err)
		}
	}
	return nil
}
