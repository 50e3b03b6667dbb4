package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/restore"
)

func init() { commands = append(commands, newRestoreCommand) }

const restoreLong = `Restores read the backup repository and its catalog and write through the
engine, so restored items are new records that are themselves backed up. They
open the data directory directly: stop "tidemark serve" first (a running
server holds its lock and the command says so). "restore server" needs no
data directory at all, only the repository.

Times: RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (local time unless a zone is given),
dd/MM/yyyy HH:mm:ss, first, last.

Every restore ends with a report: restored, skipped and unrestored counts and,
per account, the ids of unrestored items with the reason. One bad item never
stops the rest, but a restore whose report lists unrestored items exits 5
(incomplete) after printing it; 0 means everything asked for is back.

--obey-hsm-policy is accepted by every mode; with no HSM policy configured it
is the default: restored blobs go to the current primary volume.`

// restoreCommon are the flags every restore mode takes.
type restoreCommon struct {
	dataDir  string
	json     bool
	obeyHSM  bool
	at, from string
}

func (c *restoreCommon) bind(cmd *cobra.Command) {
	dataDirFlag(cmd, &c.dataDir)
	cmd.Flags().BoolVar(&c.json, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&c.obeyHSM, "obey-hsm-policy", false, "place restored blobs as the HSM policy would (none configured: the primary volume)")
}

// run opens the data directory and the backup, finds the account named by
// arg (an address as of at, or an id) with find, runs f on it and prints
// f's report.
func (c *restoreCommon) run(cmd *cobra.Command, arg string, find func(ctx context.Context, env *backupEnv, arg string) (uint64, error),
	f func(ctx context.Context, r *restore.Restorer, acct uint64) (restore.Report, error)) error {
	ctx := cmd.Context()
	env, r, err := openRestoreEnv(ctx, c.dataDir)
	if err != nil {
		return err
	}
	defer env.Close()
	acct, err := find(ctx, env, arg)
	if err != nil {
		return err
	}
	rep, err := f(ctx, r, acct)
	if err != nil {
		return err
	}
	return printReport(cmd.OutOrStdout(), rep, c.json)
}

// liveAt finds an account by the address it had at t, or by id.
func liveAt(t time.Time) func(ctx context.Context, env *backupEnv, arg string) (uint64, error) {
	return func(ctx context.Context, env *backupEnv, arg string) (uint64, error) {
		return resolveAccount(ctx, env.cat, arg, t)
	}
}

func newRestoreCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore accounts, items or a whole server from the backup",
		Long:  restoreLong,
	}
	cmd.AddCommand(newRestoreAccountCommand(), newRestoreUndeleteCommand(), newRestoreItemCommand(),
		newRestoreDeletedAccountCommand(), newRestoreServerCommand(), newRestoreExternalCommand())
	return cmd
}

func newRestoreAccountCommand() *cobra.Command {
	var c restoreCommon
	var into string
	var hide, inPlace, yes bool
	cmd := &cobra.Command{
		Use:   "account SRC --at T (--into NEW [--hide-in-gal] | --in-place --yes)",
		Short: "Restore an account as of a time into a new account, or roll it back in place",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := restoreTime("--at", c.at)
			if err != nil {
				return err
			}
			switch {
			case inPlace && into != "":
				return usagef("--into and --in-place exclude each other")
			case inPlace && !yes:
				return usagef("--in-place changes %s to its state at %s; add --yes to confirm", args[0], c.at)
			case !inPlace && into == "":
				return usagef("give --into NEW or --in-place --yes")
			}
			return c.run(cmd, args[0], liveAt(at), func(ctx context.Context, r *restore.Restorer, src uint64) (restore.Report, error) {
				if inPlace {
					return r.InPlace(ctx, src, at)
				}
				return r.Account(ctx, src, at, strings.ToLower(into), restore.AccountOptions{HideInGAL: hide})
			})
		},
	}
	c.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&c.at, "at", "last", "point in time")
	f.StringVar(&into, "into", "", "address of the new account to create")
	f.BoolVar(&hide, "hide-in-gal", false, "hide the new account from the global address list")
	f.BoolVar(&inPlace, "in-place", false, "roll SRC itself back to its state at --at")
	f.BoolVar(&yes, "yes", false, "confirm --in-place")
	return cmd
}

func newRestoreUndeleteCommand() *cobra.Command {
	var c restoreCommon
	var to string
	cmd := &cobra.Command{
		Use:   "undelete ACCOUNT --from T1|first --to T2|last",
		Short: `Bring back every item deleted in a window into a folder "Restored <date>"`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t1, err := restoreTime("--from", c.from)
			if err != nil {
				return err
			}
			t2, err := restoreTime("--to", to)
			if err != nil {
				return err
			}
			if t2.Before(t1) {
				return usagef("--to is before --from")
			}
			return c.run(cmd, args[0], liveAt(restore.Latest), func(ctx context.Context, r *restore.Restorer, acct uint64) (restore.Report, error) {
				return r.Undelete(ctx, acct, t1, t2)
			})
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&c.from, "from", "first", "start of the deletion window")
	cmd.Flags().StringVar(&to, "to", "last", "end of the deletion window")
	return cmd
}

func newRestoreItemCommand() *cobra.Command {
	var c restoreCommon
	var folder string
	cmd := &cobra.Command{
		Use:   "item ACCOUNT ITEM [--at T] [--folder F]",
		Short: "Restore one item as it was at a time (before its deletion) into its folder or F",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := restoreTime("--at", c.at)
			if err != nil {
				return err
			}
			item, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return usagef("ITEM must be an item id (see tidemark backup ls): %v", err)
			}
			return c.run(cmd, args[0], liveAt(restore.Latest), func(ctx context.Context, r *restore.Restorer, acct uint64) (restore.Report, error) {
				return r.Item(ctx, acct, item, at, folder)
			})
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&c.at, "at", "last", "point in time")
	cmd.Flags().StringVar(&folder, "folder", "", "folder to restore into (default: where the item was)")
	return cmd
}

func newRestoreDeletedAccountCommand() *cobra.Command {
	var c restoreCommon
	var into string
	cmd := &cobra.Command{
		Use:   "deleted-account OLD --into NEW",
		Short: "Restore a deleted account as it was just before its deletion",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if into == "" {
				return usagef("--into NEW is required")
			}
			return c.run(cmd, args[0], resolveDeleted, func(ctx context.Context, r *restore.Restorer, old uint64) (restore.Report, error) {
				return r.DeletedAccount(ctx, old, strings.ToLower(into), restore.AccountOptions{})
			})
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&into, "into", "", "address of the new account")
	return cmd
}

// resolveDeleted finds a deleted account by id or by the address it had
// (the most recently deleted one wins).
func resolveDeleted(ctx context.Context, env *backupEnv, arg string) (uint64, error) {
	if id, err := strconv.ParseUint(arg, 10, 64); err == nil {
		return id, nil
	}
	dels, err := env.cat.DeletedAccounts(ctx)
	if err != nil {
		return 0, err
	}
	var best uint64
	var when time.Time
	for _, d := range dels {
		if strings.EqualFold(d.Account.Address, arg) && !d.Time.Before(when) {
			best, when = d.Account.ID, d.Time
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no deleted account %s in the backup (see tidemark backup accounts --deleted): %w", arg, restore.ErrNotInBackup)
	}
	return best, nil
}

func newRestoreServerCommand() *cobra.Command {
	var c restoreCommon
	var s3 s3Config
	cmd := &cobra.Command{
		Use:   "server --from REPO --data NEWDIR [--at T]",
		Short: "Rebuild a whole data directory from the backup repository alone (disaster recovery)",
		Long: `Rebuild a complete data directory from the repository alone: blobs onto the
primary volume, then every record into a fresh redo log with its original
time, then the engine replays them and checks the result. NEWDIR must be
missing or empty. REPO is a directory or s3://bucket/prefix (with --s3-*
flags, or TIDEMARK_S3_ACCESS_KEY / TIDEMARK_S3_SECRET_KEY). Afterwards run
"tidemark serve --data NEWDIR".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.from == "" || !cmd.Flags().Changed("data") {
				return usagef("--from REPO and --data NEWDIR are required")
			}
			at := restore.Latest
			if c.at != "" {
				var err error
				if at, err = restoreTime("--at", c.at); err != nil {
					return err
				}
			}
			if s3.AccessKey == "" {
				s3.AccessKey = os.Getenv("TIDEMARK_S3_ACCESS_KEY")
			}
			if s3.SecretKey == "" {
				s3.SecretKey = os.Getenv("TIDEMARK_S3_SECRET_KEY")
			}
			return runRestoreServer(cmd.Context(), cmd, c, backupConfig{Repository: c.from, S3: s3}, at)
		},
	}
	c.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&c.from, "from", "", "repository: a directory or s3://bucket/prefix")
	f.StringVar(&c.at, "at", "", "rebuild the server as of this time (default: last)")
	f.StringVar(&s3.Endpoint, "s3-endpoint", "", "S3 host:port")
	f.StringVar(&s3.Region, "s3-region", "", "S3 region")
	f.StringVar(&s3.AccessKey, "s3-access-key", "", "S3 access key")
	f.StringVar(&s3.SecretKey, "s3-secret-key", "", "S3 secret key")
	f.BoolVar(&s3.TLS, "s3-tls", false, "use https")
	f.Bool("keep-owner", false, "a rehearsal: leave the repository's owner as it is (the rebuilt server refuses to ship to it until it takes ownership)")
	return cmd
}
