package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/mailserver/imap"
	"github.com/tidemark/tidemark/restore"
	"github.com/tidemark/tidemark/restore/view"
)

// backupViews serves the users' view of their backup (restore/view) over
// the running scanner's catalog and repository. The service replaces its
// catalog when the repository changes and has none while the repository
// is unreachable, so the view service is made again whenever they change.
type backupViews struct {
	eng     *engine.Engine
	backup  func() (*catalog.Catalog, *repository.Repository, error) // nil: the backup is off
	opts    view.Options
	log     *slog.Logger
	mu      sync.Mutex
	svc     *view.Service
	cat     *catalog.Catalog
	repo    *repository.Repository
	enabled bool
}

func newBackupViews(eng *engine.Engine, cfg config, svc *backup.Service, log *slog.Logger) *backupViews {
	loc, err := cfg.IMAP.backupViewLocation()
	if err != nil { // validated with the configuration; kept for callers that built cfg by hand
		log.Warn("backup view: naming days in UTC", "err", err)
		loc = time.UTC
	}
	return &backupViews{eng: eng, backup: serverBackup(svc), log: log, enabled: cfg.IMAP.BackupViewPrefix != "",
		opts: view.Options{Prefix: cfg.IMAP.BackupViewPrefix, Retention: time.Duration(cfg.Backup.RetentionDays) * 24 * time.Hour,
			Location: loc, Now: time.Now, Logger: log}}
}

// service returns the view service over the current catalog and
// repository.
func (v *backupViews) service() (*view.Service, error) {
	if v.backup == nil {
		return nil, fmt.Errorf("the backup view is not available: the real-time backup is off on this server")
	}
	cat, repo, err := v.backup()
	if err != nil {
		return nil, fmt.Errorf("the backup view is not available: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.svc == nil || v.cat != cat || v.repo != repo {
		rs := restore.New(v.eng, cat, repo, &restore.Options{Now: time.Now, Logger: v.log})
		v.svc, v.cat, v.repo = view.New(cat, repo, v.eng, rs, &v.opts), cat, repo
	}
	return v.svc, nil
}

// route returns the view's source for a name under the prefix, nil for
// any other name.
func (v *backupViews) route(ctx context.Context, acct uint64, name string) (*view.Source, error) {
	if !v.enabled {
		return nil, nil
	}
	if _, ok, err := view.ParseName(v.opts.Prefix, name, v.opts.Location); !ok {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	}
	svc, err := v.service()
	if err != nil {
		return nil, err
	}
	return svc.Router().Route(ctx, acct, name)
}

// Route serves the view's names to IMAP sessions (imap.SourceRouter).
func (v *backupViews) Route(ctx context.Context, acct uint64, name string) (imap.Source, error) {
	src, err := v.route(ctx, acct, name)
	if src == nil {
		return nil, err
	}
	return src, nil
}

var _ imap.SourceRouter = (*backupViews)(nil)

// Namespace is the view's prefix for acct ("" when its view is off or the
// backup is unavailable): NAMESPACE shows it as a shared namespace.
func (v *backupViews) Namespace(ctx context.Context, acct uint64) string {
	if !v.enabled {
		return ""
	}
	svc, err := v.service()
	if err != nil {
		return ""
	}
	return svc.Router().Namespace(ctx, acct)
}

// List gives LIST the view's names the patterns reach.
func (v *backupViews) List(ctx context.Context, acct uint64, patterns []string) ([]imap.ListedMailbox, error) {
	if !v.enabled {
		return nil, nil
	}
	svc, err := v.service()
	if err != nil {
		return nil, err
	}
	names, err := svc.Router().List(ctx, acct, patterns)
	out := make([]imap.ListedMailbox, len(names))
	for i, n := range names {
		out[i] = imap.ListedMailbox{Name: n.Name, NoSelect: n.NoSelect, HasChildren: n.HasChildren}
	}
	return out, err
}

var _ imap.SourceLister = (*backupViews)(nil)

// SplitLogin recognises USER+at=TIME logins.
func (v *backupViews) SplitLogin(login string) (string, bool, error) {
	if !v.enabled {
		return "", false, nil
	}
	user, _, ok, err := view.ParseLogin(login, v.opts.Location)
	return user, ok, err
}

// SessionSource opens the point-in-time session of a USER+at=TIME login.
func (v *backupViews) SessionSource(ctx context.Context, acct uint64, login string) (imap.Source, []imap.ListedMailbox, error) {
	svc, err := v.service()
	if err != nil {
		return nil, nil, err
	}
	src, names, err := svc.Router().SessionAt(ctx, acct, login)
	if err != nil {
		return nil, nil, err
	}
	out := make([]imap.ListedMailbox, len(names))
	for i, n := range names {
		out[i] = imap.ListedMailbox{Name: n.Name, NoSelect: n.NoSelect, HasChildren: n.HasChildren}
	}
	return src, out, nil
}

var _ imap.LoginRouter = (*backupViews)(nil)
