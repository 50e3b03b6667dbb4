package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/engine/backup"
)

type backupPurgeOptions struct {
	dataDir string
	days    int
	json    bool
}

func newBackupPurgeCommand() *cobra.Command {
	var o backupPurgeOptions
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Remove backup versions of items deleted longer ago than the retention (server stopped)",
		Long: `Removes the versions of items deleted more than --days days ago, then the blobs
no remaining version references, and folds older log segments into a catalog
snapshot. --days defaults to backup.retention_days (30); 0 keeps everything.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBackupPurge(c.Context(), o, c) },
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().IntVar(&o.days, "days", -1, "retention in days (default: backup.retention_days; 0 = forever)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

func runBackupPurge(ctx context.Context, o backupPurgeOptions, c *cobra.Command) error {
	env, err := openBackupEnv(ctx, o.dataDir, true, false)
	if err != nil {
		return err
	}
	defer env.Close()
	days := o.days
	if days < 0 {
		days = env.cfg.Backup.RetentionDays
	}
	if days == 0 {
		fmt.Fprintln(c.OutOrStdout(), "retention is 0 (keep forever): nothing to purge")
		return nil
	}
	rep, err := backup.Purge(ctx, env.repo, env.cat, backup.PurgeOptions{
		Retention: time.Duration(days) * 24 * time.Hour, Now: time.Now(), Config: backup.ConfigSnapshot{TOML: env.raw}})
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.OutOrStdout(), rep)
	}
	w := c.OutOrStdout()
	fmt.Fprintf(w, "purged %d items (%d versions) deleted more than %d days ago, %d segments, %d snapshots; snapshot %s\n",
		rep.Items, rep.Versions, days, rep.Segments, rep.Snapshots, rep.Snapshot)
	fmt.Fprintf(w, "%d blobs no longer referenced, %d packs rewritten or emptied: their objects are deleted after a grace period\n", rep.Blobs, rep.Packs)
	fmt.Fprintf(w, "(so a copy of the repository taken meanwhile stays restorable); %d objects whose grace had passed were deleted now\n", rep.Deleted)
	return nil
}
