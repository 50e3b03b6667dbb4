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
	// The engine is opened for the provisioning the snapshot stores with
	// tidemark.toml.
	env, err := openBackupEnv(ctx, o.dataDir, true, true)
	if err != nil {
		return err
	}
	defer env.Close()
	if err := refuseUnlessOwner(ctx, o.dataDir, env.repo); err != nil {
		return err
	}
	days := o.days
	if days < 0 {
		days = env.cfg.Backup.RetentionDays
	}
	if days == 0 {
		fmt.Fprintln(c.OutOrStdout(), "retention is 0 (keep forever): nothing to purge")
		return nil
	}
	cfg, err := configSource(ctx, env.eng, env.raw)()
	if err != nil {
		return fmt.Errorf("purge: read the provisioning for the snapshot: %w", err)
	}
	rep, err := backup.Purge(ctx, env.repo, env.cat, backup.PurgeOptions{
		Retention: time.Duration(days) * 24 * time.Hour, Now: time.Now(), Config: cfg})
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.OutOrStdout(), rep)
	}
	w := c.OutOrStdout()
	fmt.Fprintf(w, "purged %d items (%d versions) deleted more than %d days ago; wrote snapshot %s\n",
		rep.Items, rep.Versions, days, rep.Snapshot)
	fmt.Fprintf(w, "to delete after the grace period (so a copy of the repository taken meanwhile stays restorable):\n")
	fmt.Fprintf(w, "  %d segments and %d older snapshots folded into the snapshot, %d blobs no longer referenced, %d packs rewritten or emptied\n",
		rep.Segments, rep.Snapshots, rep.Blobs, rep.Packs)
	fmt.Fprintf(w, "deleted now, their grace period over: %d objects\n", rep.Deleted)
	return nil
}
