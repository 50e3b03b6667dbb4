package restore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
)

// ErrNotInBackup is returned when the backup holds no such account (or
// not at the time asked).
var ErrNotInBackup = errors.New("restore: not in the backup")

// AccountOptions tune a restore into a new account.
type AccountOptions struct {
	// HideInGAL hides the new account from the global address list (a
	// restored copy beside the original usually should be).
	HideInGAL bool
}

// Account restores account src as it was at t into a new account named
// into: its folder tree and every item with its flags, keywords, folder and
// internal date. src itself is not touched. t = Latest restores the newest
// state.
func (r *Restorer) Account(ctx context.Context, src uint64, t time.Time, into string, o AccountOptions) (Report, error) {
	st, err := r.cat.AccountAt(ctx, src, t)
	if err != nil {
		if errors.Is(err, repository.ErrNotFound) {
			return Report{}, fmt.Errorf("restore account %d at %s: %w", src, t.Format(time.RFC3339Nano), ErrNotInBackup)
		}
		return Report{}, fmt.Errorf("restore account %d: %w", src, err)
	}
	rep := Report{Mode: "account", At: t}
	ar, err := r.intoNew(ctx, st, t, into, o)
	if err != nil {
		return rep, err
	}
	rep.add(ar)
	return rep, nil
}

// DeletedAccount restores an account the backup holds as deleted, as it
// was just before its deletion, into a new account named into.
func (r *Restorer) DeletedAccount(ctx context.Context, old uint64, into string, o AccountOptions) (Report, error) {
	vs, err := r.cat.AccountVersions(ctx, old)
	if err != nil {
		return Report{}, fmt.Errorf("restore deleted account %d: %w", old, err)
	}
	if len(vs) == 0 || !vs[len(vs)-1].Gone() {
		return Report{}, fmt.Errorf("restore deleted account %d: the account is not deleted: %w", old, ErrNotInBackup)
	}
	del := vs[len(vs)-1]
	// The first of the trailing run of gone versions is the deletion.
	for i := len(vs) - 1; i >= 0 && vs[i].Gone(); i-- {
		del = vs[i]
	}
	at := del.Time.Add(-time.Nanosecond)
	st, err := r.cat.AccountAt(ctx, old, at)
	if err != nil {
		return Report{}, fmt.Errorf("restore deleted account %d as of %s: %w", old, at.Format(time.RFC3339Nano), err)
	}
	rep := Report{Mode: "deleted-account", At: at}
	ar, err := r.intoNew(ctx, st, at, into, o)
	if err != nil {
		return rep, err
	}
	rep.add(ar)
	return rep, nil
}

// AttrRestoredFrom is the account attribute a restore into a new account
// sets: "<source account id>@<time restored, RFC 3339>". A second run of
// the same restore (after an interruption) finds it and fills the account
// it created instead of failing, adding only the items not there yet.
const AttrRestoredFrom = "restored-from"

// intoNew creates the account into from st's provisioning and fills it.
// When into exists and was created by the same restore (AttrRestoredFrom),
// it is filled with what it still lacks.
func (r *Restorer) intoNew(ctx context.Context, st catalog.AccountState, at time.Time, into string, o AccountOptions) (AccountReport, error) {
	src := st.Version.Account
	ar := AccountReport{Source: src.ID, SourceAddress: src.Address, TargetAddress: into}
	tag := fmt.Sprintf("%d@%s", src.ID, at.UTC().Format(time.RFC3339Nano))
	attrs := make(map[string]string, len(src.Attrs)+1)
	for k, v := range src.Attrs {
		attrs[k] = v
	}
	attrs[AttrRestoredFrom] = tag
	spec := engine.AccountSpec{
		Address:      into,
		PasswordHash: src.PasswordHash,
		HideInGAL:    o.HideInGAL,
		Attrs:        attrs,
	}
	if src.Quota > 0 {
		q := src.Quota
		spec.Quota = &q
	}
	if src.COS != "" && r.hasCOS(ctx, src.COS) {
		spec.COS = src.COS
	}
	acct, err := r.eng.CreateAccount(ctx, spec)
	resume := false
	if errors.Is(err, engine.ErrExists) {
		if prev, lerr := r.eng.LookupAccount(ctx, into); lerr == nil && prev.Attrs[AttrRestoredFrom] == tag {
			acct, err, resume = prev, nil, true
			ar.Note = joinNote(ar.Note, "resumed: the account an earlier run of this restore created is filled with what it lacked")
		}
	}
	if err != nil {
		return ar, fmt.Errorf("create account %s: %w", into, err)
	}
	ar.Target, ar.TargetAddress = acct.ID, acct.Address
	if err := r.materialize(ctx, acct.ID, st, &ar, resume); err != nil {
		return ar, err
	}
	return ar, nil
}

func (r *Restorer) hasCOS(ctx context.Context, name string) bool {
	cs, err := r.eng.ListCOS(ctx)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// materialize gives a fresh account (holding only the folders every
// account starts with) st's folders, subscriptions and items, and removes
// the starting folders st did not have. With resume, items the account already holds
// (an interrupted run's) are skipped.
func (r *Restorer) materialize(ctx context.Context, acct uint64, st catalog.AccountState, ar *AccountReport, resume bool) error {
	ids, err := r.ensureFolders(ctx, acct, st.Folders, ar, true)
	if err != nil {
		return err
	}
	if err := r.dropExtraFolders(ctx, acct, st.Folders); err != nil {
		return err
	}
	if err := r.restoreSubscriptions(ctx, acct, st.Subscriptions, true); err != nil {
		return err
	}
	inbox, err := r.eng.FolderByPath(ctx, acct, engine.InboxName)
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	bs := batchesFor(st.Items, func(it catalog.ItemVersion) (uint64, bool) {
		id, ok := ids[it.Folder]
		return id, ok
	}, inbox.ID)
	t := newTally(ar, len(st.Items), r.opts)
	if resume {
		if err := r.skipPresent(ctx, acct, bs, t); err != nil {
			return err
		}
	}
	r.fill(ctx, acct, bs, t)
	t.finish()
	return nil
}

// dropExtraFolders deletes the empty folders of acct that want does not
// have (the starting folders of a new account), deepest first.
func (r *Restorer) dropExtraFolders(ctx context.Context, acct uint64, want []catalog.FolderState) error {
	keep := map[string]bool{"INBOX": true}
	for _, f := range want {
		keep[normPath(f.Path)] = true
	}
	have, err := r.eng.ListFolders(ctx, acct)
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}
	sort.Slice(have, func(i, j int) bool { return have[i].Path > have[j].Path })
	for _, f := range have {
		if keep[normPath(f.Path)] || f.Messages > 0 {
			continue
		}
		if err := r.eng.DeleteFolder(ctx, acct, f.ID); err != nil && !errors.Is(err, engine.ErrFolderNotEmpty) {
			return fmt.Errorf("delete folder %s: %w", f.Path, err)
		}
	}
	return nil
}
