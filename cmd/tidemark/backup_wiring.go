package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
)

// catalogDir is the scanner's local catalog inside the data directory.
const catalogDir = repository.CatalogDir

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

// newBackupService makes the backup service of serve from the
// configuration; it runs once started on the engine (backup.Service).
// rawCfg is tidemark.toml as read, kept with each catalog snapshot; eng is
// read when the first snapshot is written, after serve has opened it.
func newBackupService(ctx context.Context, dataDir string, cfg config, rawCfg []byte, eng **engine.Engine, log *slog.Logger) (*backup.Service, error) {
	if cfg.Backup.Repository == "" {
		return nil, errors.New("backup: backup.repository is empty")
	}
	where := resolve(dataDir, cfg.Backup.Repository)
	isS3 := strings.HasPrefix(where, "s3://")
	if !isS3 && sameFilesystem(dataDir, where) {
		log.Warn("backup repository is on the same filesystem as the data directory: it will not survive the loss of that disk",
			"repository", where, "data", dataDir)
	}
	opts := scanner.Options{Now: time.Now, Logger: log, Config: func() (repository.ConfigSnapshot, error) {
		return configSource(ctx, *eng, rawCfg)()
	}}
	if isS3 {
		opts.ShipInterval = 250 * time.Millisecond
	}
	if cfg.Backup.ShipInterval != "" {
		d, err := time.ParseDuration(cfg.Backup.ShipInterval)
		if err != nil {
			return nil, fmt.Errorf("backup.ship_interval: %w", err)
		}
		opts.ShipInterval = d
	}
	var vol hsm.Volume
	pw := repoPassword{dataDir: dataDir, cfgFile: cfg.Backup.PasswordFile, noPrompt: true}
	return backup.NewService(backup.ServiceOptions{
		Dir:   dataDir,
		Where: where,
		Open: func(ctx context.Context) (*repository.Repository, error) {
			if vol == nil {
				v, _, err := openRepositoryVolume(ctx, dataDir, cfg.Backup)
				if err != nil {
					return nil, err
				}
				vol = v
			}
			return openRepo(ctx, vol, pw, true)
		},
		// The server reads the password file again at every attempt
		// (at most 10 s apart): fixing it is enough.
		Problem: func(err error) (string, bool) {
			if !errors.Is(err, repository.ErrWrongPassword) {
				return "", false
			}
			return fmt.Sprintf("repository %s: %v; fix %s (the server reads it again every 10 s)", where, err, pw.source()), true
		},
		Resolve:          func(r *repository.Refusal) []string { return resolveCommands(dataDir, r) },
		Scanner:          opts,
		RetentionDays:    cfg.Backup.RetentionDays,
		CatalogCacheSize: cfg.Backup.CatalogCacheBytes,
		Now:              time.Now,
		Logger:           log,
	})
}

// configSource returns the configuration stored with catalog snapshots:
// tidemark.toml without its secrets (snapshotConfig) and the provisioning (domains, classes, accounts) as JSON.
func configSource(ctx context.Context, eng *engine.Engine, rawCfg []byte) func() (repository.ConfigSnapshot, error) {
	return func() (repository.ConfigSnapshot, error) {
		doms, err := eng.ListDomains(ctx)
		if err != nil {
			return repository.ConfigSnapshot{}, err
		}
		cos, err := eng.ListCOS(ctx)
		if err != nil {
			return repository.ConfigSnapshot{}, err
		}
		accts, err := eng.ListAccounts(ctx, "")
		if err != nil {
			return repository.ConfigSnapshot{}, err
		}
		prov, err := json.MarshalIndent(map[string]any{"domains": doms, "classes_of_service": cos, "accounts": accts}, "", "  ")
		if err != nil {
			return repository.ConfigSnapshot{}, err
		}
		toml, err := snapshotConfig(rawCfg)
		if err != nil {
			return repository.ConfigSnapshot{}, err
		}
		return repository.ConfigSnapshot{TOML: toml, Provisioning: prov}, nil
	}
}
