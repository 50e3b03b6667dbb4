package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/engine/backup"
	"github.com/tidemark/tidemark/restore"
)

func runRestoreServer(ctx context.Context, cmd *cobra.Command, c restoreCommon, bc backupConfig, at time.Time) error {
	cwd, _ := os.Getwd()
	vol, _, err := openRepositoryVolume(ctx, cwd, bc)
	if err != nil {
		return err
	}
	repo, err := backup.OpenRepository(ctx, vol)
	if err != nil {
		return fmt.Errorf("repository %s: %w", bc.Repository, err)
	}
	dir, err := filepath.Abs(c.dataDir)
	if err != nil {
		return err
	}
	rep, err := restore.Server(ctx, repo, dir, &restore.ServerOptions{At: at,
		Progress: func(phase string, n int) { fmt.Fprintf(os.Stderr, "restore server: %d %s\n", n, phase) }})
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(cmd.OutOrStdout(), rep)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "restored %s: %d records up to lsn %d (%s), %d blobs (%s)\n", dir, rep.Records, rep.LastLSN,
		rep.LastTime.Format("2006-01-02 15:04:05.000 MST"), rep.Blobs, formatBytes(rep.BlobBytes))
	if !rep.Config {
		cfg := defaultConfig()
		cfg.Backup.Repository = bc.Repository
		if !strings.Contains(bc.Repository, "://") {
			cfg.Backup.Repository, _ = filepath.Abs(bc.Repository)
		}
		cfg.Backup.S3 = bc.S3
		b, err := encodeConfig(cfg)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "tidemark.toml"), b, 0o600)
		}
		if err != nil {
			return fmt.Errorf("write default tidemark.toml: %w", err)
		}
		fmt.Fprintln(w, "no configuration snapshot in the repository: wrote a default tidemark.toml pointing at it")
	}
	if rep.Corrections > 0 {
		fmt.Fprintf(w, "warning: %d SmartScan corrections in the repository were not applied\n", rep.Corrections)
	}
	for _, f := range rep.Unrestored {
		fmt.Fprintf(w, "unrestored: %s\n", f.Reason)
	}
	fmt.Fprintf(w, "state digest %s\nstart it with: tidemark serve --data %s\n", rep.Digest, dir)
	return nil
}
