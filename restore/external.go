package restore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// AttrMigratedFrom is the account attribute an external restore sets on
// every account it creates: "<source repository id>/<source account id>".
// It records where the account came from; it is not what a second run
// relies on (see External).
const AttrMigratedFrom = "migrated-from"

// ExternalOptions configure External.
type ExternalOptions struct {
	// Source is the id of the source repository, recorded in
	// AttrMigratedFrom.
	Source string
	// Accounts limits the import to these source accounts (addresses,
	// case-insensitive, or ids). Empty: every account.
	Accounts []string
	// Domains limits the import to accounts whose address is in one of
	// these domains. Empty: every domain.
	Domains []string
	// ProvisioningOnly runs phase 1 (and aliases) only: no folders, no
	// items.
	ProvisioningOnly bool
	// IncludeDeleted also imports accounts the source holds as deleted,
	// as they were just before their deletion.
	IncludeDeleted bool
	// SkipSystemAccounts leaves out system accounts (see IsSystemAccount).
	SkipSystemAccounts bool
	// Concurrency is how many accounts are filled at once in phase 2.
	// Default 2 (each also restores Options.Concurrency folders at once).
	Concurrency int
}

// IsSystemAccount reports whether a is a system account rather than a
// user's: attribute "system" (or Zimbra's zimbraIsSystemAccount) true, or
// a local part Zimbra gives its own accounts (galsync, spam., ham.,
// virus-quarantine.).
func IsSystemAccount(a event.Account) bool {
	for _, k := range []string{"system", "zimbraIsSystemAccount"} {
		if v := a.Attrs[k]; strings.EqualFold(v, "true") || v == "1" {
			return true
		}
	}
	local, _, _ := strings.Cut(strings.ToLower(a.Address), "@")
	for _, p := range []string{"galsync", "spam.", "ham.", "virus-quarantine."} {
		if strings.HasPrefix(local, p) {
			return true
		}
	}
	return false
}

// external is one source account on its way in.
type external struct {
	src     catalog.AccountVersion // the version imported
	at      time.Time              // the time its state is read at
	target  uint64
	created bool
	status  event.AccountStatus // set in phase 3 when items could not be added under it
	rep     AccountReport
}

// External imports accounts of another repository (an export, or the
// repository of another server: the Restorer's catalog and blobs are the
// source's) into this engine, in three phases:
//
//  1. classes of service the accounts use, their domains, and the
//     accounts with their attributes, quota, status and password hash.
//     Once an account is created its user can log in and receive mail.
//  2. folders and items, Concurrency accounts at once, items of a folder
//     in their source UID order.
//  3. the rest: aliases and folder subscriptions.
//
// Running it twice imports nothing twice. An account is matched by its
// address (a target account with that address is filled, not created
// again); an item is already there when the target folder of the same
// path holds an item with the same digest and internal date (counted, so
// two identical source items need two identical target items). Items
// already there are counted as skipped. Items appended by an interrupted
// run stay where they are; the rest follow them, so after an interruption
// a folder's UID order may differ from the source's.
func (r *Restorer) External(ctx context.Context, o ExternalOptions) (Report, error) {
	rep := Report{Mode: "external", At: Latest}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	todo, err := r.externalSelect(ctx, o)
	if err != nil {
		return rep, err
	}
	if err := r.externalProvision(ctx, todo, o); err != nil {
		return rep, err
	}
	if !o.ProvisioningOnly {
		sem := make(chan struct{}, o.Concurrency)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for _, x := range todo {
			if x.target == 0 {
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(x *external) {
				defer func() { <-sem; wg.Done() }()
				if err := r.externalFill(ctx, x); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}(x)
		}
		wg.Wait()
		if firstErr != nil {
			return rep, firstErr
		}
	}
	for _, x := range todo {
		if x.target != 0 {
			if err := r.externalRest(ctx, x, o); err != nil {
				return rep, err
			}
		}
		rep.add(x.rep)
	}
	return rep, nil
}

// externalSelect picks the source accounts and the version of each to
// import.
func (r *Restorer) externalSelect(ctx context.Context, o ExternalOptions) ([]*external, error) {
	wantAcct, wantDom := map[string]bool{}, map[string]bool{}
	for _, a := range o.Accounts {
		wantAcct[strings.ToLower(strings.TrimSpace(a))] = true
	}
	for _, d := range o.Domains {
		wantDom[strings.ToLower(strings.TrimSpace(d))] = true
	}
	all, err := r.cat.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("external restore: list source accounts: %w", err)
	}
	var out []*external
	for _, v := range all {
		x := &external{src: v, at: Latest}
		if v.Gone() {
			if !o.IncludeDeleted {
				continue
			}
			live, at, err := r.beforeDeletion(ctx, v.Account.ID)
			if err != nil {
				continue // never live in the backup: nothing to bring back
			}
			x.src, x.at = live, at
			x.rep.Note = "deleted in the source at " + v.Time.Format(time.RFC3339)
		}
		a := x.src.Account
		if len(wantAcct) > 0 && !wantAcct[strings.ToLower(a.Address)] && !wantAcct[strconv.FormatUint(a.ID, 10)] {
			continue
		}
		if len(wantDom) > 0 && !wantDom[domainOf(a.Address)] {
			continue
		}
		if o.SkipSystemAccounts && IsSystemAccount(a) {
			continue
		}
		x.rep.Source, x.rep.SourceAddress = a.ID, a.Address
		out = append(out, x)
	}
	return out, nil
}

// beforeDeletion returns the last live version of a deleted account and
// the time just before its deletion.
func (r *Restorer) beforeDeletion(ctx context.Context, acct uint64) (catalog.AccountVersion, time.Time, error) {
	vs, err := r.cat.AccountVersions(ctx, acct)
	if err != nil {
		return catalog.AccountVersion{}, time.Time{}, err
	}
	i := len(vs) - 1
	for i >= 0 && vs[i].Gone() {
		i--
	}
	if i < 0 {
		return catalog.AccountVersion{}, time.Time{}, ErrNotInBackup
	}
	return vs[i], vs[i+1].Time.Add(-time.Nanosecond), nil
}

// externalProvision is phase 1.
func (r *Restorer) externalProvision(ctx context.Context, todo []*external, o ExternalOptions) error {
	if err := r.externalCOS(ctx, todo); err != nil {
		return err
	}
	doms, err := r.eng.ListDomains(ctx)
	if err != nil {
		return fmt.Errorf("external restore: list domains: %w", err)
	}
	have := map[string]bool{}
	for _, d := range doms {
		have[strings.ToLower(d.Name)] = true
	}
	for _, x := range todo {
		d := domainOf(x.src.Account.Address)
		if d == "" || have[d] {
			continue
		}
		if err := r.eng.CreateDomain(ctx, d); err != nil && !errors.Is(err, engine.ErrExists) {
			return fmt.Errorf("external restore: create domain %s: %w", d, err)
		}
		have[d] = true
	}
	for _, x := range todo {
		a := x.src.Account
		x.rep.TargetAddress = a.Address
		if cur, err := r.eng.LookupAccount(ctx, a.Address); err == nil {
			x.target, x.rep.Target = cur.ID, cur.ID
			if cur.Attrs[AttrMigratedFrom] == "" {
				x.rep.Note = joinNote(x.rep.Note, "account already on this server: filled, not created")
			}
			continue
		} else if !errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("external restore: look up %s: %w", a.Address, err)
		}
		attrs := map[string]string{}
		for k, v := range a.Attrs {
			attrs[k] = v
		}
		attrs[AttrMigratedFrom] = o.Source + "/" + strconv.FormatUint(a.ID, 10)
		spec := engine.AccountSpec{Address: a.Address, PasswordHash: a.PasswordHash, Status: a.Status,
			HideInGAL: a.HideInGAL, Attrs: attrs}
		if a.Status != "" && a.Status != event.StatusActive && a.Status != event.StatusLocked {
			// The engine refuses items for such an account: fill it
			// active, set the status in phase 3.
			spec.Status, x.status = event.StatusActive, a.Status
		}
		q := a.Quota
		spec.Quota = &q
		if a.COS != "" && r.hasCOS(ctx, a.COS) {
			spec.COS = a.COS
		}
		acct, err := r.eng.CreateAccount(ctx, spec)
		if err != nil {
			x.rep.Note = joinNote(x.rep.Note, "account not created: "+err.Error())
			x.rep.Unrestored = append(x.rep.Unrestored, Failure{Reason: "account not created: " + err.Error()})
			continue
		}
		x.target, x.created = acct.ID, true
		x.rep.Target, x.rep.TargetAddress = acct.ID, acct.Address
	}
	return nil
}

// externalCOS creates the classes of service the accounts use that this
// server lacks, when the source catalog can list them.
func (r *Restorer) externalCOS(ctx context.Context, todo []*external) error {
	lister, ok := r.cat.(interface {
		COS(ctx context.Context) ([]event.COS, error)
	})
	if !ok {
		return nil
	}
	classes, err := lister.COS(ctx)
	if err != nil {
		return fmt.Errorf("external restore: source classes of service: %w", err)
	}
	used := map[string]bool{}
	for _, x := range todo {
		used[x.src.Account.COS] = true
	}
	for _, c := range classes {
		if !used[c.Name] || r.hasCOS(ctx, c.Name) {
			continue
		}
		if err := r.eng.CreateCOS(ctx, c); err != nil && !errors.Is(err, engine.ErrExists) {
			return fmt.Errorf("external restore: create class of service %s: %w", c.Name, err)
		}
	}
	return nil
}

// externalFill is phase 2 for one account: folders, then the items the
// target does not hold yet.
func (r *Restorer) externalFill(ctx context.Context, x *external) error {
	st, err := r.cat.AccountAt(ctx, x.src.Account.ID, x.at)
	if err != nil {
		return fmt.Errorf("external restore: account %s: %w", x.src.Account.Address, err)
	}
	ids, err := r.ensureFolders(ctx, x.target, st.Folders, &x.rep, false)
	if err != nil {
		return fmt.Errorf("external restore: %s: %w", x.src.Account.Address, err)
	}
	if x.created {
		if err := r.dropExtraFolders(ctx, x.target, st.Folders); err != nil {
			return fmt.Errorf("external restore: %s: %w", x.src.Account.Address, err)
		}
	}
	inbox, err := r.eng.FolderByPath(ctx, x.target, engine.InboxName)
	if err != nil {
		return fmt.Errorf("external restore: %s: inbox: %w", x.src.Account.Address, err)
	}
	bs := batchesFor(st.Items, func(it catalog.ItemVersion) (uint64, bool) {
		id, ok := ids[it.Folder]
		return id, ok
	}, inbox.ID)
	t := newTally(&x.rep, len(st.Items), r.opts)
	if err := r.skipPresent(ctx, x.target, bs, t); err != nil {
		return fmt.Errorf("external restore: %s: %w", x.src.Account.Address, err)
	}
	r.fill(ctx, x.target, bs, t)
	t.finish()
	return ctx.Err()
}

// skipPresent drops from bs the items the target folders already hold
// (same digest and internal date, counted), counting them as skipped.
func (r *Restorer) skipPresent(ctx context.Context, acct uint64, bs []batch, t *tally) error {
	for i := range bs {
		present, err := r.presentItems(ctx, acct, bs[i].folder)
		if err != nil {
			return err
		}
		keep := bs[i].items[:0:0]
		for _, it := range bs[i].items {
			k := itemKey{it.Digest, it.InternalDate.UnixNano()}
			if present[k] > 0 {
				present[k]--
				t.skipped()
				continue
			}
			keep = append(keep, it)
		}
		bs[i].items = keep
	}
	return nil
}

// itemKey recognises an item already imported.
type itemKey struct {
	digest dedup.Digest
	date   int64
}

func (r *Restorer) presentItems(ctx context.Context, acct, folder uint64) (map[itemKey]int, error) {
	items, err := r.eng.ListItems(ctx, acct, folder)
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	out := make(map[itemKey]int, len(items))
	for _, it := range items {
		out[itemKey{it.Digest, it.InternalDate.UnixNano()}]++
	}
	return out, nil
}

// externalRest is phase 3 for one account: aliases and subscriptions.
func (r *Restorer) externalRest(ctx context.Context, x *external, o ExternalOptions) error {
	cur, err := r.eng.GetAccount(ctx, x.target)
	if err != nil {
		return fmt.Errorf("external restore: %s: %w", x.src.Account.Address, err)
	}
	has := map[string]bool{}
	for _, al := range cur.Aliases {
		has[strings.ToLower(al)] = true
	}
	aliases := append([]string(nil), x.src.Account.Aliases...)
	sort.Strings(aliases)
	for _, al := range aliases {
		if has[strings.ToLower(al)] {
			continue
		}
		if d := domainOf(al); d != "" {
			if err := r.eng.CreateDomain(ctx, d); err != nil && !errors.Is(err, engine.ErrExists) {
				x.rep.Unrestored = append(x.rep.Unrestored, Failure{Reason: fmt.Sprintf("alias %s: domain: %v", al, err)})
				continue
			}
		}
		if err := r.eng.AddAlias(ctx, x.target, al); err != nil {
			x.rep.Unrestored = append(x.rep.Unrestored, Failure{Reason: fmt.Sprintf("alias %s: %v", al, err)})
		}
	}
	if x.status != "" {
		if _, err := r.eng.ModifyAccount(ctx, x.target, engine.AccountChange{Status: &x.status}); err != nil {
			x.rep.Unrestored = append(x.rep.Unrestored, Failure{Reason: fmt.Sprintf("status %s: %v", x.status, err)})
		}
	}
	if o.ProvisioningOnly {
		return nil
	}
	st, err := r.cat.AccountAt(ctx, x.src.Account.ID, x.at)
	if err != nil {
		return fmt.Errorf("external restore: account %s: %w", x.src.Account.Address, err)
	}
	var scratch AccountReport
	if _, err := r.ensureFolders(ctx, x.target, st.Folders, &scratch, true); err != nil {
		return fmt.Errorf("external restore: %s: %w", x.src.Account.Address, err)
	}
	if err := r.restoreSubscriptions(ctx, x.target, st.Subscriptions, false); err != nil {
		return fmt.Errorf("external restore: %s: %w", x.src.Account.Address, err)
	}
	return nil
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
