package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"
)

type backupScanOptions struct {
	dataDir string
	account string
	json    bool
	sync    bool
}

func newBackupScanCommand() *cobra.Command {
	var o backupScanOptions
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "SmartScan: bring the backup level with the mailbox state",
		Long: `Ships what the redo log holds beyond the backup, then compares every account
(or --account) with the backup catalog and stores what is missing or changed,
marking as deleted what the server no longer has. A scan that finds nothing
writes nothing. With a server running it is an operation of the server's
backup queue (the command prints its id; --sync waits); without one it runs
in this process.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBackupScan(c.Context(), o, c) },
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().StringVar(&o.account, "account", "", "scan only this account (address)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&o.sync, "sync", false, "with a server running: wait for the operation to end, showing its progress")
	return cmd
}

func runBackupScan(ctx context.Context, o backupScanOptions, c *cobra.Command) error {
	raw, err := json.Marshal(scanParams{Account: o.account})
	if err != nil {
		return err
	}
	return submitOperation(ctx, c, opOptions{dataDir: o.dataDir, json: o.json, sync: o.sync, reportOnly: true}, kindBackupScan, raw)
}
