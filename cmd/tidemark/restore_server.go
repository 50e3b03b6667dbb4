package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/restore"
)

func runRestoreServer(ctx context.Context, cmd *cobra.Command, c restoreCommon, bc backupConfig, at time.Time) error {
	cwd, _ := os.Getwd()
	vol, _, err := openRepositoryVolume(ctx, cwd, bc)
	if err != nil {
		return err
	}
	repo, pw, err := openRepoPassword(ctx, vol, repoPassword{flagFile: c.passwordFile}, false)
	if err != nil {
		return fmt.Errorf("repository %s: %w", bc.Repository, err)
	}
	dir, err := filepath.Abs(c.dataDir)
	if err != nil {
		return err
	}
	repoLoc := strings.TrimRight(bc.Repository, "/")
	if !strings.Contains(repoLoc, "://") {
		if repoLoc, err = filepath.Abs(repoLoc); err != nil {
			return err
		}
	}
	var cfgNotes []string
	rep, err := restore.Server(ctx, repo, dir, &restore.ServerOptions{At: at,
		CheckConfig: restoredConfig(dir, repoLoc, &cfgNotes),
		OpenVolume:  volumeOpener(dir, 0, newLogger(os.Stderr, slog.LevelWarn)),
		Progress:    func(phase string, n int) { fmt.Fprintf(os.Stderr, "restore server: %d %s\n", n, phase) }})
	// A restore cut short still leaves a consistent data directory of
	// everything before the cut: finish it (configuration, certificate),
	// print the report, then fail with the error that says where and why.
	stopped := err
	if err != nil && (!errors.Is(err, restore.ErrIncomplete) || rep.CutReason == "") {
		return err
	}
	if !rep.Config {
		if err := writeRestoredConfig(dir, bc); err != nil {
			return err
		}
	}
	diverged, err := divergeRepository(ctx, repo, dir, bc, rep.LastLSN, rep.Renumbered, pw)
	if err != nil {
		return err
	}
	keepOwner, _ := cmd.Flags().GetBool("keep-owner")
	owner, err := claimRestored(ctx, repo, dir, diverged, keepOwner)
	if err != nil {
		return err
	}
	// The backup never holds private keys: a rebuilt server gets a new
	// self-signed certificate until the real one is put back.
	cfg, _, err := loadConfig(dir)
	if err != nil {
		return err
	}
	newCert := false
	if _, err := os.Stat(resolve(dir, cfg.IMAP.Cert)); err != nil {
		if err := writeSelfSigned(dir, cfg); err != nil {
			return err
		}
		newCert = true
	}
	if c.json {
		if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
		return stopped
	}
	w := cmd.OutOrStdout()
	if stopped != nil {
		fmt.Fprintf(w, "incomplete: %v\n", stopped)
	}
	switch {
	case diverged != "" && rep.Renumbered:
		fmt.Fprintf(w, "the rebuilt redo log's positions differ from the repository's (gaps closed or SmartScan corrections written as records), so the restored server will back up to a new repository: %s\n", diverged)
	case diverged != "":
		fmt.Fprintf(w, "the restored server's history leaves the repository's after lsn %d, so it will back up to a new repository: %s\n", rep.LastLSN, diverged)
	}
	printRestoredOwner(w, owner, diverged)
	fmt.Fprintf(w, "restored %s: %d records up to lsn %d (%s), %d blobs (%s)\n", dir, rep.Records, rep.LastLSN,
		rep.LastTime.Format("2006-01-02 15:04:05.000 MST"), rep.Blobs, formatBytes(rep.BlobBytes))
	for _, n := range cfgNotes {
		fmt.Fprintf(w, "configuration: %s\n", n)
	}
	if strings.HasPrefix(repoLoc, "s3://") {
		fmt.Fprintf(w, "the S3 secret key is not stored in backups: start the server with %s (or %s) set\n", s3SecretEnv, s3SecretFileEnv)
	}
	if !rep.Config {
		fmt.Fprintln(w, "no configuration snapshot in the repository: wrote a default tidemark.toml pointing at it")
	}
	if newCert {
		fmt.Fprintf(w, "wrote a new self-signed TLS certificate to %s: put the server's real certificate and key back there\n", cfg.IMAP.Cert)
	}
	if rep.Corrections > 0 {
		fmt.Fprintf(w, "applied %d SmartScan corrections as records", rep.Corrections)
		if rep.Rewritten > 0 {
			fmt.Fprintf(w, "; %d records that referred to mail the backup did not hold then were trimmed", rep.Rewritten)
		}
		fmt.Fprintln(w)
	}
	for _, f := range rep.Unrestored {
		fmt.Fprintf(w, "unrestored: %s\n", f.Reason)
	}
	fmt.Fprintf(w, "state digest %s\nstart it with: tidemark serve --data %s\n", rep.Digest, dir)
	return stopped
}

// writeRestoredConfig writes a default tidemark.toml into the restored data
// directory pointing at the repository it was restored from, for a
// repository that holds no configuration snapshot.
func writeRestoredConfig(dir string, bc backupConfig) error {
	cfg := defaultConfig()
	cfg.Backup.Repository = bc.Repository
	if !strings.Contains(bc.Repository, "://") {
		cfg.Backup.Repository, _ = filepath.Abs(bc.Repository)
	}
	cfg.Backup.S3 = bc.S3
	cfg.Backup.S3.SecretKey = "" // secrets come from the environment
	b, err := encodeConfig(cfg)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, configFile), b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("write default tidemark.toml: %w", err)
	}
	return nil
}

// divergeRepository decides where the restored server backs up. One that
// continues the repository's history (Repository.ContinuedBy: rebuilt to
// its end with its own positions) is pointed at the repository it came
// from (absolute, so it does not depend on where the data directory sits;
// the snapshot's may be relative); any other is pointed at a new
// repository beside the old one, since one repository never holds two
// histories. It returns the new location, or "" when
// the restored server continues the repository.
//
// pw, the password of an encrypted repository, is written to the data
// directory's password file, which the configuration names: the rebuilt
// server opens the repository (and a diverged new one is encrypted with
// it too).
func divergeRepository(ctx context.Context, repo *repository.Repository, dir string, bc backupConfig, lastLSN uint64, renumbered bool, pw []byte) (string, error) {
	continues, err := repo.ContinuedBy(ctx, lastLSN, renumbered)
	if err != nil {
		return "", err
	}
	cfg, _, err := loadConfig(dir)
	if err != nil {
		return "", err
	}
	from := strings.TrimRight(bc.Repository, "/")
	if !strings.Contains(from, "://") {
		if from, err = filepath.Abs(from); err != nil {
			return "", err
		}
	}
	diverged := !continues
	cfg.Backup.Repository = from
	if diverged {
		cfg.Backup.Repository = fmt.Sprintf("%s-restored-lsn%d-%s", from, lastLSN, time.Now().UTC().Format("20060102T150405Z"))
	}
	if strings.HasPrefix(from, "s3://") {
		// The endpoint the repository was read from; the access key only
		// where the snapshot had none. The secret key is never written:
		// the restored server reads it from its environment.
		if bc.S3.Endpoint != "" {
			cfg.Backup.S3.Endpoint, cfg.Backup.S3.Region, cfg.Backup.S3.TLS = bc.S3.Endpoint, bc.S3.Region, bc.S3.TLS
		}
		if cfg.Backup.S3.AccessKey == "" {
			cfg.Backup.S3.AccessKey = bc.S3.AccessKey
		}
		cfg.Backup.S3.SecretKey = ""
	}
	cfg.Backup.PasswordFile = ""
	if pw != nil {
		if cfg.Backup.PasswordFile, err = writePasswordFile(dir, pw); err != nil {
			return "", err
		}
	}
	b, err := encodeConfig(cfg)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, configFile), b, 0o600); err != nil {
		return "", fmt.Errorf("rewrite tidemark.toml: %w", err)
	}
	if !diverged {
		return "", nil
	}
	return cfg.Backup.Repository, nil
}
