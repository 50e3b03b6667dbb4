package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/redolog"
)

// catalogDir is the scanner's local catalog inside the data directory.
const catalogDir = "backup-catalog"

// lateSafeLSN lets serve give the engine a SafeLSN before the scanner
// exists: pass (*lateSafeLSN).Get to openEngine, then startBackup sets it.
// Until then (and with backup disabled in the configuration: never) it
// answers 0, so the engine keeps every blob and log record.
type lateSafeLSN struct {
	s atomic.Pointer[backup.Scanner]
}

func (l *lateSafeLSN) Get() uint64 {
	if s := l.s.Load(); s != nil {
		return s.SafeLSN()
	}
	return 0
}

// backupRunner runs the real-time scanner for serve; Close stops it. The
// repository may be unreachable when the server starts (an S3 outage): the
// mail server must start anyway, so the runner keeps trying to open the
// repository in the background and starts the scanner once it can. Until
// then the engine's SafeLSN stays 0, so it keeps every blob and redo record
// the scanner will need.
type backupRunner struct {
	scanner atomic.Pointer[backup.Scanner]
	repo    atomic.Pointer[backup.Repository]
	openErr atomic.Pointer[string] // last failure to open the repository
	refusal atomic.Pointer[backup.Refusal]
	catMu   sync.RWMutex // cat is replaced when the repository changed
	cat     *backup.Catalog
	log     *redolog.Log
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	dataDir string
	where   string
	logger  *slog.Logger
	idMu    sync.Mutex // serialises claims (the runner, take-ownership)
	id      backup.Identity
	wake    chan struct{} // a take-ownership asks the runner to check again
}

// Scanner returns the scanner, or nil while the repository is unreachable.
func (b *backupRunner) Scanner() *backup.Scanner { return b.scanner.Load() }

// Close stops the scanner, waits for it and closes the catalog.
func (b *backupRunner) Close() error {
	b.cancel()
	b.wg.Wait()
	b.catMu.Lock()
	defer b.catMu.Unlock()
	return b.cat.Close()
}

// repositoryRetry is the policy of every call to the repository volume: a
// deadline per call (a List cut short resumes), temporary errors retried
// with backoff. The scanner's retry waits out longer outages on top.
var repositoryRetry = hsm.RetryOptions{MaxAttempts: 6, InitialBackoff: 200 * time.Millisecond,
	MaxBackoff: 10 * time.Second, CallTimeout: 2 * time.Minute}

// openRepositoryVolume opens the configured repository: a directory
// (relative to the data directory) or s3://bucket/prefix, wrapped with
// repositoryRetry.
func openRepositoryVolume(ctx context.Context, dataDir string, cfg backupConfig) (hsm.Volume, bool, error) {
	loc := resolve(dataDir, cfg.Repository)
	if strings.HasPrefix(loc, "s3://") {
		u, err := url.Parse(loc)
		if err != nil {
			return nil, true, fmt.Errorf("backup.repository %q: %w", loc, err)
		}
		if cfg.S3.SecretKey == "" {
			// Never in a backup copy of the config: the environment.
			if cfg.S3.SecretKey, err = s3SecretFromEnv(); err != nil {
				return nil, true, err
			}
		}
		if cfg.S3.AccessKey == "" {
			cfg.S3.AccessKey = os.Getenv(s3AccessEnv)
		}
		v, err := s3vol.New(ctx, s3vol.Options{Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, Bucket: u.Host,
			Prefix: strings.Trim(u.Path, "/"), AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, UseTLS: cfg.S3.TLS})
		if err != nil {
			return nil, true, err
		}
		return hsm.WithRetry(v, repositoryRetry), true, nil
	}
	if loc == "" {
		return nil, false, errors.New("backup.repository is empty")
	}
	v, err := localvol.New(vfs.Default, loc, nil)
	if err != nil {
		return nil, false, err // not a typed nil inside the interface
	}
	return hsm.WithRetry(v, repositoryRetry), false, nil
}

// sameFilesystem reports whether two paths sit on one device.
func sameFilesystem(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}

// startBackup opens the repository and catalog and runs the real-time
// scanner for eng until Close (or ctx ends). safe, when not nil, is pointed
// at the scanner. rawCfg is tidemark.toml as read, kept with each catalog
// snapshot.
func startBackup(ctx context.Context, eng *engine.Engine, dataDir string, cfg config, rawCfg []byte, safe *lateSafeLSN, log *slog.Logger) (*backupRunner, error) {
	if cfg.Backup.Repository == "" {
		return nil, errors.New("backup: backup.repository is empty")
	}
	isS3 := strings.HasPrefix(resolve(dataDir, cfg.Backup.Repository), "s3://")
	if !isS3 && sameFilesystem(dataDir, resolve(dataDir, cfg.Backup.Repository)) {
		log.Warn("backup repository is on the same filesystem as the data directory: it will not survive the loss of that disk",
			"repository", resolve(dataDir, cfg.Backup.Repository), "data", dataDir)
	}
	cat, err := backup.OpenCatalog(filepath.Join(dataDir, catalogDir), nil)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	opts := &backup.Options{Now: time.Now, Logger: log, Config: configSource(ctx, eng, rawCfg)}
	if isS3 {
		opts.ShipInterval = 250 * time.Millisecond
	}
	if cfg.Backup.ShipInterval != "" {
		d, err := time.ParseDuration(cfg.Backup.ShipInterval)
		if err != nil {
			cat.Close()
			return nil, fmt.Errorf("backup.ship_interval: %w", err)
		}
		opts.ShipInterval = d
	}
	id, created, err := loadIdentity(dataDir)
	if err != nil {
		cat.Close()
		return nil, err
	}
	if created {
		log.Info("this data directory had no server identity (written by an older tidemark); created one", "server", id.Server)
	}
	where := resolve(dataDir, cfg.Backup.Repository)
	rctx, cancel := context.WithCancel(ctx)
	b := &backupRunner{cat: cat, log: eng.Log(), cancel: cancel, dataDir: dataDir, where: where, logger: log,
		id: id, wake: make(chan struct{}, 1)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		repo := b.openRepository(rctx, dataDir, cfg.Backup, where, log)
		if repo == nil {
			return // stopped before the repository answered
		}
		b.repo.Store(repo)
		src := enginesrc.New(eng)
		hist := backup.LogOf(eng.Log())
		for rctx.Err() == nil {
			// Ship only to a repository this server owns; while it is
			// refused, mail flows and the engine keeps every record.
			owner, err := b.own(rctx, repo, hist)
			if err == nil {
				if err = b.bindCatalog(repo); err == nil {
					o := *opts
					o.Owner = &owner
					var sc *backup.Scanner
					if sc, err = backup.NewScanner(repo, b.catalog(), hist, src, src, &o); err == nil {
						b.scanner.Store(sc)
						if safe != nil {
							safe.s.Store(sc)
						}
						log.Info("backup scanner running", "repository", where, "id", repo.ID(), "server", owner.Server, "epoch", owner.Epoch)
						err = sc.Run(rctx)
						b.scanner.Store(nil)
					}
				}
			}
			if err == nil || errors.Is(err, context.Canceled) || rctx.Err() != nil {
				return
			}
			r, ok := errors.AsType[*backup.Refusal](err)
			if !ok {
				log.Error("backup scanner stopped", "err", err)
				msg := err.Error()
				b.openErr.Store(&msg)
				return
			}
			b.refuse(r)
			select {
			case <-rctx.Done():
			case <-b.wake:
			case <-time.After(30 * time.Second):
			}
		}
	}()
	return b, nil
}

// openRepository opens (creating on first use) the repository, retrying
// with backoff while it is unreachable: an S3 endpoint that does not
// answer and a local directory that cannot be opened or created (a
// missing mount, wrong permissions) alike, so mail keeps flowing. It
// returns nil when ctx ends first.
func (b *backupRunner) openRepository(ctx context.Context, dataDir string, cfg backupConfig, where string, log *slog.Logger) *backup.Repository {
	var vol hsm.Volume
	var repo *backup.Repository
	pw := repoPassword{dataDir: dataDir, cfgFile: cfg.PasswordFile, noPrompt: true}
	failed, wrongPassword := false, false
	// The one retry policy, without a limit, and over permanent errors
	// too: an administrator fixes a mount, permissions or the password
	// file while mail flows, and the next attempt (at most 10 s later)
	// reads them again.
	policy := hsm.RetryOptions{MaxAttempts: -1, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
		RetryPermanent: true, OnRetry: func(_, _ string, attempt int, err error) {
			msg := fmt.Sprintf("repository %s unreachable: %v", where, err)
			failed = true
			if errors.Is(err, backup.ErrWrongPassword) {
				// Not an outage: nothing changes until the administrator
				// fixes the password; say so once, as an error.
				msg = fmt.Sprintf("repository %s: %v; fix %s (the server reads it again every 10 s)", where, err, pw.source())
				if !wrongPassword {
					wrongPassword = true
					log.Error("backup repository does not open with the configured password; mail is still accepted and kept for the backup until the password is fixed",
						"repository", where, "password", pw.source(), "err", err)
				}
			} else if attempt == 1 {
				log.Error("backup repository unreachable; mail is still accepted and kept for the backup until it answers",
					"repository", where, "err", err)
			}
			b.openErr.Store(&msg)
		}}
	err := hsm.Retry(ctx, policy, "open repository", where, func(context.Context) error {
		var err error
		if vol == nil {
			if vol, _, err = openRepositoryVolume(ctx, dataDir, cfg); err != nil {
				return err
			}
		}
		repo, err = openRepo(ctx, vol, pw, true)
		return err
	})
	if err != nil {
		return nil // ctx ended first
	}
	if failed {
		log.Info("backup repository open again; shipping what was kept meanwhile", "repository", where)
	}
	b.openErr.Store(nil)
	return repo
}

// configSource returns the configuration stored with catalog snapshots:
// tidemark.toml without its secrets (snapshotConfig) and the provisioning (domains, classes, accounts) as JSON.
func configSource(ctx context.Context, eng *engine.Engine, rawCfg []byte) func() (backup.ConfigSnapshot, error) {
	return func() (backup.ConfigSnapshot, error) {
		doms, err := eng.ListDomains(ctx)
		if err != nil {
			return backup.ConfigSnapshot{}, err
		}
		cos, err := eng.ListCOS(ctx)
		if err != nil {
			return backup.ConfigSnapshot{}, err
		}
		accts, err := eng.ListAccounts(ctx, "")
		if err != nil {
			return backup.ConfigSnapshot{}, err
		}
		prov, err := json.MarshalIndent(map[string]any{"domains": doms, "classes_of_service": cos, "accounts": accts}, "", "  ")
		if err != nil {
			return backup.ConfigSnapshot{}, err
		}
		toml, err := snapshotConfig(rawCfg)
		if err != nil {
			return backup.ConfigSnapshot{}, err
		}
		return backup.ConfigSnapshot{TOML: toml, Provisioning: prov}, nil
	}
}
