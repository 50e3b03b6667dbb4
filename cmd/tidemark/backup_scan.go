package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

type backupScanOptions struct {
	dataDir string
	account string
	json    bool
}

func newBackupScanCommand() *cobra.Command {
	var o backupScanOptions
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "SmartScan: bring the backup level with the mailbox state (server stopped)",
		Long: `Ships what the redo log holds beyond the backup, then compares every account
(or --account) with the backup catalog and stores what is missing or changed,
marking as deleted what the server no longer has. A scan that finds nothing
writes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBackupScan(c.Context(), o, c) },
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().StringVar(&o.account, "account", "", "scan only this account (address)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

func runBackupScan(ctx context.Context, o backupScanOptions, c *cobra.Command) error {
	env, err := openBackupEnvInit(ctx, o.dataDir, true, true, true)
	if err != nil {
		return err
	}
	defer env.Close()
	var acct uint64
	if o.account != "" {
		a, err := env.eng.LookupAccount(ctx, o.account)
		if err != nil {
			return fmt.Errorf("account %s: %w", o.account, err)
		}
		acct = a.ID
	}
	sc, err := env.scanner()
	if err != nil {
		return err
	}
	rep, err := sc.Scan(ctx, acct)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.OutOrStdout(), rep)
	}
	fmt.Fprintf(c.OutOrStdout(), "scanned %d accounts at lsn %d: %d changes, %d blobs copied\n", rep.Accounts, rep.LSN, rep.Changes, rep.Blobs)
	return nil
}
