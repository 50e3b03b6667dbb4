package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
)

// ExportCatalog is what an export reads from the source catalog.
// *catalog.Catalog satisfies it.
type ExportCatalog interface {
	Accounts(ctx context.Context) ([]catalog.AccountVersion, error)
	AccountAt(ctx context.Context, acct uint64, t time.Time) (catalog.AccountState, error)
	COS(ctx context.Context) ([]event.COS, error)
	Position() (lsn uint64, unixNano int64, err error)
}

var _ ExportCatalog = (*catalog.Catalog)(nil)

// ExportOptions configure Export. Zero fields take the defaults.
type ExportOptions struct {
	// Domains limits the export to accounts whose primary address is in
	// one of these domains (case-insensitive). Empty: every account.
	Domains []string
	// At exports the accounts as of this time. Zero or Latest: the newest
	// state the catalog holds.
	At time.Time
	// Now stamps the new repository's manifest. Default time.Now.
	Now func() time.Time
	// Concurrency is how many blobs are copied at once. Default 8.
	Concurrency int
	// Progress, when set, is called every 1,000 blobs copied and once at
	// the end with the blobs done and the total.
	Progress func(done, total int)
	// Logger receives blobs that could not be copied. Default slog.Default().
	Logger *slog.Logger
	// Password, when set, makes the exported repository encrypted with it
	// as its one key (see repository.NewExportWriterWith).
	Password []byte
}

// ExportReport says what Export wrote.
type ExportReport struct {
	Repository  string    `json:"repository"` // id of the new repository
	At          time.Time `json:"at"`         // the time every record carries
	Domains     []string  `json:"domains"`
	Accounts    []string  `json:"accounts"`
	Folders     int       `json:"folders"`
	Items       int       `json:"items"`
	Records     int       `json:"records"`
	Segments    int       `json:"segments"`
	Blobs       int       `json:"blobs"`
	RawBytes    int64     `json:"raw_bytes"`    // message bytes of the items exported
	StoredBytes int64     `json:"stored_bytes"` // compressed bytes of the distinct blobs
	Unrestored  []Failure `json:"unrestored,omitempty"`
}

// Export writes to dst, which must hold nothing, a self-contained
// repository of the chosen domains' accounts as they were at o.At.
//
// The export is a snapshot, not a filtered copy of the history: it holds
// one record set that creates, at o.At (records are stamped with that
// time, LSNs 1..n without gaps), the classes of service the accounts use,
// their domains (and those of their aliases), every account with its
// attributes, password hash and aliases and its folders (ids, names,
// special use, UIDVALIDITY, subscription), and every live item with its
// id, folder, UID, flags and internal date. Item ids, UIDs and UIDVALIDITY
// stay as they were, so an IMAP client's cache stays valid after a
// migration. What the accounts held before o.At, deleted items and other
// domains' accounts are not in it, and a purged source exports as well as
// a complete one. Blobs are stored once per digest, compressed.
//
// So `restore server --from DEST` rebuilds a server holding exactly those
// accounts, and `restore external DEST` imports them into a running data
// directory. An item whose blob cannot be read from the source is left
// out and listed in Unrestored.
func Export(ctx context.Context, cat ExportCatalog, src Blobs, dst hsm.Volume, o *ExportOptions) (ExportReport, error) {
	opts := exportDefaults(o)
	var rep ExportReport
	// What to export is settled before anything is written, so a request
	// that names a domain the backup does not hold leaves dst untouched.
	at, err := exportTime(cat, opts)
	if err != nil {
		return rep, err
	}
	rep.At = at
	states, err := exportStates(ctx, cat, at, opts.Domains)
	if err != nil {
		return rep, err
	}
	w, err := repository.NewExportWriterWith(ctx, dst, opts.Now(), &repository.OpenOptions{Password: opts.Password})
	if err != nil {
		if errors.Is(err, repository.ErrNotEmpty) {
			return rep, fmt.Errorf("%w: %w", ErrNotEmpty, err)
		}
		return rep, err
	}
	rep.Repository = w.ID()
	bad := copyExportBlobs(ctx, states, src, w, opts)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if err := writeExportRecords(ctx, cat, states, bad, w, at.UnixNano(), &rep); err != nil {
		return rep, err
	}
	_, st, err := w.Finish(ctx)
	if err != nil {
		return rep, err
	}
	rep.Records, rep.Segments, rep.Blobs, rep.StoredBytes = st.Records, st.Segments, st.Blobs, st.StoredBytes
	return rep, nil
}

func exportDefaults(o *ExportOptions) ExportOptions {
	var c ExportOptions
	if o != nil {
		c = *o
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// exportTime resolves At against what the catalog holds: the state after
// its last record is the newest there is, so a later At means that state.
func exportTime(cat ExportCatalog, o ExportOptions) (time.Time, error) {
	_, ns, err := cat.Position()
	if err != nil {
		return time.Time{}, fmt.Errorf("export: catalog position: %w", err)
	}
	pos := time.Unix(0, ns).UTC()
	if o.At.IsZero() || o.At.After(pos) {
		return pos, nil
	}
	return o.At.UTC(), nil
}

// exportStates returns the accounts live at t whose address is in one of
// domains (all when empty), by account id. A domain of which no account
// was live at t is an error wrapping ErrNotInBackup that names it: an
// export of a misspelt domain must not pass for an export of nothing.
func exportStates(ctx context.Context, cat ExportCatalog, t time.Time, domains []string) ([]catalog.AccountState, error) {
	want := map[string]bool{}
	for _, d := range domains {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			want[d] = true
		}
	}
	all, err := cat.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: list accounts: %w", err)
	}
	var out []catalog.AccountState
	found := map[string]bool{}
	for _, v := range all {
		st, err := cat.AccountAt(ctx, v.Account.ID, t)
		if errors.Is(err, repository.ErrNotFound) {
			continue // not there at t
		}
		if err != nil {
			return nil, fmt.Errorf("export: account %d: %w", v.Account.ID, err)
		}
		d := domainOf(st.Version.Account.Address)
		if len(want) > 0 && !want[d] {
			continue
		}
		found[d] = true
		out = append(out, st)
	}
	var missing []string
	for _, d := range sortedKeys(want) {
		if !found[d] {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("export: no account of domain %s in the backup as of %s: %w",
			strings.Join(missing, ", "), t.Format(time.RFC3339), ErrNotInBackup)
	}
	return out, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// copyExportBlobs copies every distinct blob of the accounts' items and
// returns the digests that could not be read, with why.
func copyExportBlobs(ctx context.Context, states []catalog.AccountState, src Blobs, w *repository.ExportWriter, o ExportOptions) map[dedup.Digest]error {
	var digests []dedup.Digest
	seen := map[dedup.Digest]bool{}
	for _, st := range states {
		for _, it := range st.Items {
			if !seen[it.Digest] {
				seen[it.Digest] = true
				digests = append(digests, it.Digest)
			}
		}
	}
	bad := map[dedup.Digest]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	todo := make(chan dedup.Digest)
	done := 0
	for i := 0; i < o.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range todo {
				raw, err := src.ReadBlob(ctx, d)
				if err == nil {
					err = w.PutBlob(ctx, d, raw)
				}
				mu.Lock()
				if err != nil {
					bad[d] = err
					o.Logger.Warn("export: blob not copied", "digest", d.String(), "err", err)
				}
				done++
				if o.Progress != nil && done%1000 == 0 {
					o.Progress(done, len(digests))
				}
				mu.Unlock()
			}
		}()
	}
	for _, d := range digests {
		select {
		case todo <- d:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(todo)
	wg.Wait()
	if o.Progress != nil {
		o.Progress(done, len(digests))
	}
	return bad
}

// writeExportRecords appends the record set that creates the accounts:
// classes of service, domains, then per account its creation (with its
// folders) and one MessageAdded per item whose blob was copied.
func writeExportRecords(ctx context.Context, cat ExportCatalog, states []catalog.AccountState, bad map[dedup.Digest]error,
	w *repository.ExportWriter, ts int64, rep *ExportReport) error {
	add := func(ev event.Event) error {
		payload, err := event.Encode(ev)
		if err == nil {
			_, err = w.Append(ctx, uint16(ev.Type()), ts, payload)
		}
		if err != nil {
			return fmt.Errorf("export: %v: %w", ev.Type(), err)
		}
		return nil
	}
	usedCOS, domains := map[string]bool{}, map[string]bool{}
	for _, st := range states {
		a := st.Version.Account
		usedCOS[a.COS] = true
		domains[domainOf(a.Address)] = true
		for _, al := range a.Aliases {
			domains[domainOf(al)] = true
		}
	}
	classes, err := cat.COS(ctx)
	if err != nil {
		return fmt.Errorf("export: classes of service: %w", err)
	}
	for _, c := range classes {
		if usedCOS[c.Name] {
			if err := add(event.COSCreated{COS: c}); err != nil {
				return err
			}
		}
	}
	for _, d := range sortedKeys(domains) {
		if d == "" {
			continue
		}
		rep.Domains = append(rep.Domains, d)
		if err := add(event.DomainCreated{Name: d}); err != nil {
			return err
		}
	}
	for _, st := range states {
		a := st.Version.Account
		ev := event.AccountCreated{Account: a}
		for _, f := range st.Folders { // sorted by path: parents first
			ev.Folders = append(ev.Folders, event.FolderCreated{Account: a.ID, Folder: f.ID, Parent: f.Parent, Name: f.Name,
				SpecialUse: f.SpecialUse, UIDValidity: f.UIDValidity})
		}
		if err := add(ev); err != nil {
			return err
		}
		if len(st.Subscriptions) > 0 {
			if err := add(event.SubscriptionsChanged{Account: a.ID, Names: st.Subscriptions, Subscribed: true}); err != nil {
				return err
			}
		}
		rep.Accounts = append(rep.Accounts, a.Address)
		rep.Folders += len(st.Folders)
		for _, it := range st.Items {
			if err := bad[it.Digest]; err != nil {
				rep.Unrestored = append(rep.Unrestored, Failure{Item: it.ID, Folder: a.Address + ":" + it.FolderPath, Reason: blobReason(err)})
				continue
			}
			typ := it.Type
			if typ == 0 {
				typ = event.ItemMessage
			}
			err := add(event.MessageAdded{Digest: it.Digest, Size: it.Size, Reason: event.AddRestored, ItemType: typ,
				Targets: []event.Target{{Account: a.ID, Folder: it.Folder, Item: it.ID, UID: it.UID,
					Flags: flagsWithout(it.Flags, nil), InternalDate: it.InternalDate.UnixNano()}}})
			if err != nil {
				return err
			}
			rep.Items++
			rep.RawBytes += it.Size
		}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
