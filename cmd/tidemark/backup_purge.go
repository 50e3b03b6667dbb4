package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"
)

type backupPurgeOptions struct {
	dataDir string
	days    int
	json    bool
	sync    bool
}

func newBackupPurgeCommand() *cobra.Command {
	var o backupPurgeOptions
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Remove backup versions of items deleted longer ago than the retention",
		Long: `Removes the versions of items deleted more than --days days ago, then the blobs
no remaining version references, and folds older log segments into a catalog
snapshot. --days defaults to backup.retention_days (30); 0 keeps everything.
With a server running it is an operation of the server's backup queue (the
scanner holds off while it runs; mail keeps flowing); without one it runs in
this process.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBackupPurge(c.Context(), o, c) },
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().IntVar(&o.days, "days", -1, "retention in days (default: backup.retention_days; 0 = forever)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&o.sync, "sync", false, "with a server running: wait for the operation to end, showing its progress")
	return cmd
}

func runBackupPurge(ctx context.Context, o backupPurgeOptions, c *cobra.Command) error {
	var pp purgeParams
	if o.days >= 0 {
		pp.Days = &o.days
	}
	raw, err := json.Marshal(pp)
	if err != nil {
		return err
	}
	return submitOperation(ctx, c, opOptions{dataDir: o.dataDir, json: o.json, sync: o.sync, reportOnly: true}, kindBackupPurge, raw)
}
