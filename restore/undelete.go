package restore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
)

// RestoredPrefix starts the name of the folder an undelete fills.
const RestoredPrefix = "Restored "

// Undelete puts every item of acct deleted in [from, to] (by deletion time)
// into a new folder "Restored <date>", each beneath its original folder
// path, with \Deleted removed. Live items are not touched. acct must be live
// in the engine.
func (r *Restorer) Undelete(ctx context.Context, acct uint64, from, to time.Time) (Report, error) {
	return r.UndeleteInto(ctx, acct, from, to, "")
}

// UndeleteInto is Undelete into the folder root, chosen by the caller
// ("" picks a free "Restored <date>"). When root exists (a run of the same
// undelete was interrupted), only the items it does not hold yet are
// added: running it again brings nothing twice.
func (r *Restorer) UndeleteInto(ctx context.Context, acct uint64, from, to time.Time, root string) (Report, error) {
	a, err := r.eng.GetAccount(ctx, acct)
	if err != nil {
		return Report{}, fmt.Errorf("undelete: account %d: %w", acct, err)
	}
	dels, err := r.cat.DeletedBetween(ctx, acct, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("undelete: %w", err)
	}
	if err := r.fixDeletedPaths(ctx, acct, dels); err != nil {
		return Report{}, fmt.Errorf("undelete: %w", err)
	}
	rep := Report{Mode: "undelete"}
	ar := AccountReport{Source: acct, SourceAddress: a.Address, Target: acct, TargetAddress: a.Address}
	if len(dels) == 0 {
		ar.Note = "nothing deleted in the window"
		rep.add(ar)
		return rep, nil
	}
	resume := root != ""
	if !resume {
		root, err = r.freeFolderName(ctx, acct, RestoredPrefix+r.opts.Now().In(r.opts.Location).Format("2006-01-02 15:04:05"))
		if err != nil {
			return rep, err
		}
	}
	sort.SliceStable(dels, func(i, j int) bool {
		if dels[i].FolderPath != dels[j].FolderPath {
			return dels[i].FolderPath < dels[j].FolderPath
		}
		if dels[i].UID != dels[j].UID {
			return dels[i].UID < dels[j].UID
		}
		return dels[i].ID < dels[j].ID
	})
	var want []catalog.FolderState
	seen := map[string]bool{}
	want = append(want, catalog.FolderState{Path: root, Subscribed: true})
	for _, d := range dels {
		p := d.FolderPath
		if p == "" {
			p = "unknown folder"
		}
		parts := strings.Split(p, "/")
		for i := range parts {
			sub := root + "/" + strings.Join(parts[:i+1], "/")
			if !seen[sub] {
				seen[sub] = true
				want = append(want, catalog.FolderState{Path: sub, Subscribed: true})
			}
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Path < want[j].Path })
	ids, err := r.ensurePaths(ctx, acct, want, &ar)
	if err != nil {
		return rep, err
	}
	bs := batchesFor(dels, func(it catalog.ItemVersion) (uint64, bool) {
		p := it.FolderPath
		if p == "" {
			p = "unknown folder"
		}
		id, ok := ids[root+"/"+p]
		return id, ok
	}, ids[root])
	for i := range bs {
		bs[i].drop = []string{`\Deleted`}
	}
	t := newTally(&ar, len(dels), r.opts)
	if resume {
		if err := r.skipPresent(ctx, acct, bs, t); err != nil {
			return rep, fmt.Errorf("undelete: %w", err)
		}
	}
	r.fill(ctx, acct, bs, t)
	t.finish()
	ar.Note = "into " + root
	rep.add(ar)
	return rep, nil
}

// fixDeletedPaths sets each deleted item's FolderPath to its folder's path
// just before the deletion. The catalog's DeletedBetween caches paths by
// folder alone, which is wrong for a folder renamed between two deletions;
// this asks the catalog once per deletion record instead.
func (r *Restorer) fixDeletedPaths(ctx context.Context, acct uint64, dels []catalog.ItemVersion) error {
	paths := map[uint64]map[uint64]string{} // deletion LSN -> folder -> path
	for i, d := range dels {
		m, ok := paths[d.LSN]
		if !ok {
			st, err := r.cat.AccountAt(ctx, acct, d.Time.Add(-time.Nanosecond))
			if err != nil {
				return fmt.Errorf("folders before lsn %d: %w", d.LSN, err)
			}
			m = map[uint64]string{}
			for _, f := range st.Folders {
				m[f.ID] = f.Path
			}
			paths[d.LSN] = m
		}
		if p, ok := m[d.Folder]; ok {
			dels[i].FolderPath = p
		}
	}
	return nil
}

// ensurePaths is ensureFolders keyed by path.
func (r *Restorer) ensurePaths(ctx context.Context, acct uint64, want []catalog.FolderState, ar *AccountReport) (map[string]uint64, error) {
	for i := range want {
		want[i].ID = uint64(i + 1)
	}
	byID, err := r.ensureFolders(ctx, acct, want, ar, false)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, f := range want {
		if id, ok := byID[f.ID]; ok {
			out[f.Path] = id
		}
	}
	if _, ok := out[want[0].Path]; !ok {
		return nil, fmt.Errorf("create folder %s failed", want[0].Path)
	}
	return out, nil
}

// freeFolderName returns name, or name with " (n)" added, whichever no
// folder of acct has yet.
func (r *Restorer) freeFolderName(ctx context.Context, acct uint64, name string) (string, error) {
	for n := 1; ; n++ {
		cand := name
		if n > 1 {
			cand = fmt.Sprintf("%s (%d)", name, n)
		}
		_, err := r.eng.FolderByPath(ctx, acct, cand)
		if errors.Is(err, engine.ErrNotFound) {
			return cand, nil
		}
		if err != nil {
			return "", fmt.Errorf("folder %s: %w", cand, err)
		}
	}
}

// Item restores one item of acct as it was at t (the last version before
// its deletion when it was deleted by t) into its original folder path, or
// into folder when not empty; missing folders are created. acct must be
// live in the engine. Like an undelete, the item comes back without
// \Deleted: a message expunged from Trash was flagged \Deleted just before,
// and a restored copy that still carried the flag would go with the next
// EXPUNGE.
func (r *Restorer) Item(ctx context.Context, acct, item uint64, t time.Time, folder string) (Report, error) {
	if folder == "" {
		v, err := r.version(ctx, acct, ItemRef{Item: item, At: t})
		if err != nil {
			return Report{}, err
		}
		folder = "INBOX"
		if st, err := r.cat.AccountAt(ctx, acct, v.Time); err == nil {
			for _, f := range st.Folders {
				if f.ID == v.Folder {
					folder = f.Path
				}
			}
		}
	}
	rep, _, err := r.Items(ctx, acct, []ItemRef{{Item: item, At: t}}, folder)
	if err != nil {
		return rep, err
	}
	rep.At = t
	return rep, nil
}

// ItemRef names an item of the backup and a time: the version restored is
// the item's last live version at or before At.
type ItemRef struct {
	Item uint64
	At   time.Time
}

// Items restores several items into one folder of acct (created with its
// parents when missing) as Item restores one: each as its last live
// version at or before its time, with its original bytes, flags (less
// \Deleted) and internal date, in the order given, as restore events
// that ignore the quota. It returns the new items at the index of their
// reference (the zero Item for one that was not restored; the report says
// why). A reference to no live version fails the whole call with
// ErrNotInBackup before anything is written.
func (r *Restorer) Items(ctx context.Context, acct uint64, refs []ItemRef, folder string) (Report, []engine.Item, error) {
	a, err := r.eng.GetAccount(ctx, acct)
	if err != nil {
		return Report{}, nil, fmt.Errorf("restore item: account %d: %w", acct, err)
	}
	if folder == "" {
		return Report{}, nil, fmt.Errorf("restore items: no target folder: %w", engine.ErrInvalid)
	}
	vs := make([]catalog.ItemVersion, len(refs))
	for i, ref := range refs {
		v, err := r.version(ctx, acct, ref)
		if err != nil {
			return Report{}, nil, err
		}
		v.FolderPath = folder
		vs[i] = v
	}
	rep := Report{Mode: "item"}
	ar := AccountReport{Source: acct, SourceAddress: a.Address, Target: acct, TargetAddress: a.Address}
	var want []catalog.FolderState
	parts := strings.Split(folder, "/")
	for i := range parts {
		want = append(want, catalog.FolderState{Path: strings.Join(parts[:i+1], "/"), Subscribed: true})
	}
	ids, err := r.ensurePaths(ctx, acct, want, &ar)
	if err != nil {
		return rep, nil, err
	}
	id, ok := ids[folder]
	if !ok {
		return rep, nil, fmt.Errorf("restore items: folder %s could not be made", folder)
	}
	made := make([]engine.Item, len(refs))
	tl := newTally(&ar, len(refs), r.opts)
	r.fill(ctx, acct, []batch{{folder: id, path: folder, items: vs, drop: []string{`\Deleted`}, made: made}}, tl)
	tl.finish()
	rep.add(ar)
	return rep, made, nil
}

// version returns the item's last live version at or before ref.At.
func (r *Restorer) version(ctx context.Context, acct uint64, ref ItemRef) (catalog.ItemVersion, error) {
	vs, err := r.cat.ItemVersions(ctx, acct, ref.Item)
	if err != nil {
		if errors.Is(err, repository.ErrNotFound) {
			err = ErrNotInBackup
		}
		return catalog.ItemVersion{}, fmt.Errorf("restore item %d: %w", ref.Item, err)
	}
	var v catalog.ItemVersion
	found := false
	for _, x := range vs {
		if !x.Time.After(ref.At) && !x.Deleted {
			v, found = x, true
		}
	}
	if !found {
		return catalog.ItemVersion{}, fmt.Errorf("restore item %d at %s: %w", ref.Item, ref.At.Format(time.RFC3339Nano), ErrNotInBackup)
	}
	return v, nil
}
