package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/restore"
)

const restoreExternalLong = `Import accounts from another repository (the backup repository of another
tidemark server, or an export made with "tidemark backup export") into this
server, in three phases:

  1. classes of service the accounts use, their domains, and the accounts
     with attributes, quota, status and password hashes: users can log in
     and receive mail once phase 1 is done (see --provisioning-only);
  2. folders and items, --concurrency accounts at once, each folder's items
     in their original UID order;
  3. the rest: aliases and folder subscriptions.

Running it again imports nothing twice: an account is matched by address,
an item by folder, content digest and internal date; items already there
are reported as skipped. Each account created gets the attribute
migrated-from=<source repository id>/<source account id>.

SRC is a directory or s3://bucket/prefix (with --s3-* flags, or
TIDEMARK_S3_ACCESS_KEY / TIDEMARK_S3_SECRET_KEY). It rebuilds a catalog of
SRC in a temporary directory, then imports through the engine. With a server
running it is an operation of the server's backup queue (the command prints
its id; --sync waits) and users of imported accounts can log in while it
runs; S3 keys then come from the server's environment or [backup.s3].
Without a server it runs in this process.`

func newRestoreExternalCommand() *cobra.Command {
	var c restoreCommon
	var accounts, domains string
	var o restore.ExternalOptions
	var s3 s3Config
	cmd := &cobra.Command{
		Use:   "external SRC [--accounts a,b] [--domains d] [--provisioning-only] [--include-deleted] [--skip-system-accounts] [--concurrency N]",
		Short: "Import accounts from another repository or an export (migration)",
		Long:  restoreExternalLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Concurrency < 0 {
				return usagef("--concurrency must be positive")
			}
			o.Accounts, o.Domains = splitList(accounts), splitList(domains)
			if err := envS3(cmd, &s3); err != nil {
				return err
			}
			return runRestoreExternal(cmd.Context(), cmd, c, args[0], s3, o)
		},
	}
	c.bindOp(cmd)
	f := cmd.Flags()
	f.StringVar(&accounts, "accounts", "", "comma-separated source accounts (addresses or ids) to import (default: all)")
	f.StringVar(&domains, "domains", "", "comma-separated domains to import (default: all)")
	f.BoolVar(&o.ProvisioningOnly, "provisioning-only", false, "create domains, classes of service and accounts only (phase 1 and aliases)")
	f.BoolVar(&o.IncludeDeleted, "include-deleted", false, "also import accounts deleted in the source, as they were before deletion")
	f.BoolVar(&o.SkipSystemAccounts, "skip-system-accounts", false, "leave out system accounts (galsync, spam., ham., virus-quarantine., attribute system=true)")
	f.IntVar(&o.Concurrency, "concurrency", 2, "accounts imported at once")
	bindS3Flags(cmd, &s3)
	c.bindPassword(cmd)
	return cmd
}

func runRestoreExternal(ctx context.Context, cmd *cobra.Command, c restoreCommon, src string, s3 s3Config, o restore.ExternalOptions) error {
	if !strings.Contains(src, "://") {
		abs, err := filepath.Abs(src)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("source repository: %w", err)
		}
		src = abs
	}
	keysToEnv(s3)
	pwFile := c.passwordFile
	if pwFile != "" {
		abs, err := filepath.Abs(pwFile)
		if err != nil {
			return err
		}
		pwFile = abs
	}
	return c.submit(cmd, kindRestoreExternal, restoreExternalParams{Source: src,
		S3:       s3Target{Endpoint: s3.Endpoint, Region: s3.Region, TLS: s3.TLS},
		Accounts: o.Accounts, Domains: o.Domains, ProvisioningOnly: o.ProvisioningOnly,
		IncludeDeleted: o.IncludeDeleted, SkipSystemAccounts: o.SkipSystemAccounts, Concurrency: o.Concurrency, PasswordFile: pwFile})
}
