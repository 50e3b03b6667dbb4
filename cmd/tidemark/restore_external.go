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
TIDEMARK_S3_ACCESS_KEY / TIDEMARK_S3_SECRET_KEY). The command rebuilds a
catalog of SRC in a temporary directory, then opens this server's data
directory: stop "tidemark serve" first.`

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
			envS3(&s3)
			return runRestoreExternal(cmd.Context(), cmd, c, args[0], s3, o)
		},
	}
	c.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&accounts, "accounts", "", "comma-separated source accounts (addresses or ids) to import (default: all)")
	f.StringVar(&domains, "domains", "", "comma-separated domains to import (default: all)")
	f.BoolVar(&o.ProvisioningOnly, "provisioning-only", false, "create domains, classes of service and accounts only (phase 1 and aliases)")
	f.BoolVar(&o.IncludeDeleted, "include-deleted", false, "also import accounts deleted in the source, as they were before deletion")
	f.BoolVar(&o.SkipSystemAccounts, "skip-system-accounts", false, "leave out system accounts (galsync, spam., ham., virus-quarantine., attribute system=true)")
	f.IntVar(&o.Concurrency, "concurrency", 2, "accounts imported at once")
	bindS3Flags(cmd, &s3)
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
	vol, _, err := openRepositoryVolume(ctx, c.dataDir, backupConfig{Repository: src, S3: s3})
	if err != nil {
		return err
	}
	repo, err := backup.OpenRepository(ctx, vol)
	if err != nil {
		return fmt.Errorf("source repository %s: %w", src, err)
	}
	eng, _, err := openEngineForAdmin(c.dataDir)
	if err != nil {
		return fmt.Errorf("%w (stop tidemark serve first)", err)
	}
	defer eng.Close()
	tmp, err := os.MkdirTemp("", "tidemark-external-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "restore external: reading %s (repository %s)\n", src, repo.ID())
	cat, err := backup.Rebuild(ctx, repo, filepath.Join(tmp, "catalog"), nil)
	if err != nil {
		return fmt.Errorf("catalog of %s: %w", src, err)
	}
	defer cat.Close()
	o.Source = repo.ID()
	r := restore.New(eng, cat, repo, &restore.Options{Now: time.Now,
		Progress: func(p restore.Progress) {
			fmt.Fprintf(os.Stderr, "%s: %d/%d items (%d unrestored)\n", p.Account, p.Done, p.Total, p.Unrestored)
		}})
	rep, err := r.External(ctx, o)
	if err != nil {
		return err
	}
	return printReport(cmd.OutOrStdout(), rep, c.json)
}
