package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
)

// errVerifyProblems makes verify exit non-zero when problems remain.
var errVerifyProblems = errors.New("backup verify found problems")

type backupVerifyOptions struct {
	dataDir  string
	accounts []string
	readData bool
	fix      bool
	json     bool
	sync     bool
}

func newBackupVerifyCommand() *cobra.Command {
	var o backupVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the backup repository and catalog (coherency check)",
		Long: `Checks every segment, scan and snapshot checksum, that every referenced blob is
present (with --read-data: that it matches its digest), that the catalog equals
one rebuilt from the repository, and reports orphan objects. --fix moves corrupt
and orphan objects to quarantine/ in the repository (never deletes) and copies
missing blobs again from the mail store. With a server running it is an
operation of the server's backup queue and the scanner holds off while it
runs (mail keeps flowing; the backup catches up after); without one it runs
in this process.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBackupVerify(c.Context(), o, c) },
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().StringSliceVar(&o.accounts, "accounts", nil, "check only blobs of these accounts (addresses)")
	cmd.Flags().BoolVar(&o.readData, "read-data", false, "read every blob and check its digest")
	cmd.Flags().BoolVar(&o.fix, "fix", false, "quarantine corrupt and orphan objects, copy missing blobs again")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&o.sync, "sync", false, "with a server running: wait for the operation to end, showing its progress")
	return cmd
}

func runBackupVerify(ctx context.Context, o backupVerifyOptions, c *cobra.Command) error {
	raw, err := json.Marshal(verifyParams{Accounts: o.accounts, ReadData: o.readData, Fix: o.fix})
	if err != nil {
		return err
	}
	return submitOperation(ctx, c, opOptions{dataDir: o.dataDir, json: o.json, sync: o.sync, reportOnly: true}, kindBackupVerify, raw)
}

// ownerProblem reports that this server does not own its repository: the
// backup of its mail is not being kept, whatever the repository holds.
func ownerProblem(r *repository.Refusal, resolve []string) maint.Problem {
	return maint.Problem{Kind: "not-owner", Object: "owner.json",
		Detail: "this server does not ship to this repository: " + r.Reason + ". To resolve: " + joinResolve(resolve)}
}
