package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/internal/timearg"
	"github.com/tidemark/tidemark/restore"
)

// Catalog answers what the backup held when. *catalog.Catalog satisfies it.
type Catalog interface {
	AccountVersions(ctx context.Context, acct uint64) ([]catalog.AccountVersion, error)
	AccountAt(ctx context.Context, acct uint64, t time.Time) (catalog.AccountState, error)
	FoldersAt(ctx context.Context, acct uint64, t time.Time) ([]catalog.FolderState, error)
	DeletedBetween(ctx context.Context, acct uint64, t1, t2 time.Time) ([]catalog.ItemVersion, error)
	Position() (lsn uint64, unixNano int64, err error)
}

var _ Catalog = (*catalog.Catalog)(nil)

// Blobs reads message bytes from the repository, checked against their
// digest. *repository.Repository satisfies it.
type Blobs interface {
	ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error)
}

var _ Blobs = (*repository.Repository)(nil)

// Accounts is the part of the engine the view asks about the live
// account. *engine.Engine satisfies it.
type Accounts interface {
	GetAccount(ctx context.Context, id uint64) (engine.Account, error)
	GetCOS(ctx context.Context, name string) (event.COS, error)
}

var _ Accounts = (*engine.Engine)(nil)

// Restorer brings chosen item versions back into a live folder.
// *restore.Restorer satisfies it.
type Restorer interface {
	Items(ctx context.Context, acct uint64, refs []restore.ItemRef, folder string) (restore.Report, []engine.Item, error)
}

var _ Restorer = (*restore.Restorer)(nil)

// Options configures a Service. Zero fields take the defaults.
type Options struct {
	// Prefix is the namespace the view is served under. Default "Backup".
	Prefix string
	// Retention is how far back the view reaches (the backup's retention,
	// backup.retention_days): older times fail with ErrOutsideWindow.
	// 0 reaches back to the account's creation.
	Retention time.Duration
	// Location is the zone of the days under the prefix: Backup/2026-12-01
	// is the account at the last nanosecond of that day there. Default UTC.
	Location *time.Location
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// CacheMessages bounds the messages the view keeps in memory across
	// the account snapshots it cached (least recently used dropped
	// first); a snapshot larger than the bound is served but not kept.
	// Default 500,000 (about 95 MB).
	CacheMessages int
	// MaxMessageSize is the largest message the view serves; the catalog
	// naming a larger one is taken for damage (ErrCorrupt). Default 1 GiB.
	MaxMessageSize int64
	// Logger receives folders and messages left out of the view as
	// damaged. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CacheMessages <= 0 {
		c.CacheMessages = 500_000
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 1 << 30
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Service serves the backup views of the live accounts of one server. It
// is safe for concurrent use.
type Service struct {
	cat      Catalog
	blobs    Blobs
	accts    Accounts
	restorer Restorer
	opts     Options
	cache    *cache
}

// New makes a Service. restorer may be nil when copy-back is not wanted.
func New(cat Catalog, blobs Blobs, accts Accounts, restorer Restorer, opts *Options) *Service {
	o := opts.withDefaults()
	return &Service{cat: cat, blobs: blobs, accts: accts, restorer: restorer, opts: o, cache: newCache(o.CacheMessages)}
}

// Prefix is the namespace the view is served under.
func (s *Service) Prefix() string { return s.opts.Prefix }

// Location is the zone of the view's days.
func (s *Service) Location() *time.Location { return s.opts.Location }

// ParseName is ParseName with the service's prefix and zone.
func (s *Service) ParseName(name string) (Name, bool, error) {
	return ParseName(s.opts.Prefix, name, s.opts.Location)
}

// ParseLogin is ParseLogin in the service's zone.
func (s *Service) ParseLogin(login string) (string, timearg.Point, bool, error) {
	return ParseLogin(login, s.opts.Location)
}

// CacheStats returns the snapshots and messages the cache holds.
func (s *Service) CacheStats() (snapshots, messages int) { return s.cache.stats() }

// Account is the view of one live account's own history. Only this
// account's items are reachable through it.
type Account struct {
	s       *Service
	id      uint64
	created time.Time // first version in which the account existed for backup
}

// Account opens the view of the live account acct (authenticated by the
// caller). It fails with ErrDisabled when the account's class of service
// turns the view off, and with ErrNotInBackup when the backup never held
// the account.
func (s *Service) Account(ctx context.Context, acct uint64) (*Account, error) {
	a, err := s.accts.GetAccount(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("view: account %d: %w", acct, err)
	}
	if a.COS != "" {
		c, err := s.accts.GetCOS(ctx, a.COS)
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return nil, fmt.Errorf("view: class of service %s: %w", a.COS, err)
		}
		if err == nil && c.BackupViewOff {
			return nil, fmt.Errorf("%w (class of service %s)", ErrDisabled, a.COS)
		}
	}
	vs, err := s.cat.AccountVersions(ctx, acct)
	if errors.Is(err, repository.ErrNotFound) {
		return nil, fmt.Errorf("%w: the backup holds no version of %s", ErrNotInBackup, a.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("view: account %d: %w", acct, err)
	}
	out := &Account{s: s, id: acct}
	for _, v := range vs {
		if !v.Gone() {
			out.created = v.Time
			break
		}
	}
	if out.created.IsZero() {
		return nil, fmt.Errorf("%w: %s was never backed up", ErrNotInBackup, a.Address)
	}
	return out, nil
}

// ID is the account's id.
func (a *Account) ID() uint64 { return a.id }

// Window returns the oldest and newest times the view answers for: from
// the later of the account's creation and now minus the retention, to now.
func (a *Account) Window() (from, to time.Time) {
	now := a.s.opts.Now()
	from = a.created
	if r := a.s.opts.Retention; r > 0 && now.Add(-r).After(from) {
		from = now.Add(-r)
	}
	return from, now
}

// Check fails with a clear error when t is outside the account's window:
// ErrBeforeAccount, ErrOutsideWindow or ErrFuture. The end of today (in
// the service's zone), which today's day name gives, is in the window: it
// shows the newest state.
func (a *Account) Check(t time.Time) error {
	from, to := a.Window()
	if t.After(to) && t.Equal(endOfDay(to.In(a.s.opts.Location))) {
		return nil
	}
	switch {
	case t.Before(a.created):
		return fmt.Errorf("%w at %s: it was created at %s", ErrBeforeAccount, stamp(t), stamp(a.created))
	case t.Before(from):
		return fmt.Errorf("%w at %s: the backup reaches back to %s", ErrOutsideWindow, stamp(t), stamp(from))
	case t.After(to):
		return fmt.Errorf("%w: %s is after now (%s)", ErrFuture, stamp(t), stamp(to))
	}
	return nil
}

// Resolve turns a login's time into an instant of the window: "first" is
// the window's start, "last" now. The instant is checked like Check.
func (a *Account) Resolve(p timearg.Point) (time.Time, error) {
	from, to := a.Window()
	switch {
	case p.First:
		return from, nil
	case p.Last:
		return to, nil
	case p.IsZero():
		return time.Time{}, fmt.Errorf("%w: no time given", ErrBadName)
	}
	return p.Time, a.Check(p.Time)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Day is one day of the window that has state.
type Day struct {
	Label string    // YYYY-MM-DD
	At    time.Time // its last nanosecond, in the service's zone
}

// Days lists, oldest first, the days of the window (in the service's
// zone) at whose end the account existed in the backup; today counts, and
// shows the newest state.
func (a *Account) Days(ctx context.Context) ([]Day, error) {
	vs, err := a.s.cat.AccountVersions(ctx, a.id)
	if err != nil {
		return nil, fmt.Errorf("view: account %d: %w", a.id, err)
	}
	from, to := a.Window()
	loc := a.s.opts.Location
	y, m, d := from.In(loc).Date()
	var out []Day
	for day := time.Date(y, m, d, 0, 0, 0, 0, loc); !day.After(to); day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc) {
		end := endOfDay(day)
		at := end
		if at.After(to) {
			at = to
		}
		if at.Before(from) {
			continue
		}
		if v, ok := versionAt(vs, at); ok && !v.Gone() {
			out = append(out, Day{Label: day.Format(dayLayout), At: end})
		}
	}
	return out, nil
}

func versionAt(vs []catalog.AccountVersion, t time.Time) (catalog.AccountVersion, bool) {
	var out catalog.AccountVersion
	ok := false
	for _, v := range vs {
		if !v.Time.After(t) {
			out, ok = v, true
		}
	}
	return out, ok
}

// Folder is one folder of the account at a time.
type Folder struct {
	Path       string
	SpecialUse string
	Subscribed bool
}

// Folders lists the account's folders at t (sorted by path). It reads no
// items. t must be in the window (Check).
func (a *Account) Folders(ctx context.Context, t time.Time) ([]Folder, error) {
	if err := a.Check(t); err != nil {
		return nil, err
	}
	if snap, ok := a.s.cache.peek(a.snapKey(t)); ok {
		return snap.folders, nil
	}
	fs, err := a.s.cat.FoldersAt(ctx, a.id, t)
	if errors.Is(err, repository.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotInBackup, stamp(t))
	}
	if err != nil {
		return nil, fmt.Errorf("view: folders at %s: %w", stamp(t), err)
	}
	out, _ := a.s.checkFolders(a.id, t, fs)
	return out, nil
}

// snapKey names the account's state at t in the cache. Once the catalog
// has passed t, the state at t can no longer change; before that, new
// records may still add to it, so the key carries the catalog's position.
func (a *Account) snapKey(t time.Time) snapKey {
	k := snapKey{acct: a.id, at: t.UnixNano()}
	if lsn, ns, err := a.s.cat.Position(); err == nil && ns <= k.at {
		k.lsn = lsn
	}
	return k
}
