package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/restore"
)

// newBackupBrowseCommands are the backup subcommands that find what to
// restore: ls, item and accounts (and export). They read the local catalog and the
// repository (stop the server first: it holds the catalog).
func newBackupBrowseCommands() []*cobra.Command {
	return []*cobra.Command{newBackupLsCommand(), newBackupItemCommand(), newBackupAccountsCommand(), newBackupExportCommand()}
}

const timeLayout = "2006-01-02 15:04:05.000000000 MST"

func newBackupLsCommand() *cobra.Command {
	var c restoreCommon
	var folder string
	cmd := &cobra.Command{
		Use:   "ls ACCOUNT [--at T] [--folder F]",
		Short: "List an account's folders and items as of a time",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := restoreTime("--at", c.at)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			env, err := openBackupEnv(ctx, c.dataDir, true, false)
			if err != nil {
				return err
			}
			defer env.Close()
			acct, err := resolveAccount(ctx, env.cat, args[0], at)
			if err != nil {
				return err
			}
			st, err := env.cat.AccountAt(ctx, acct, at)
			if err != nil {
				return fmt.Errorf("account %s at %s: %w", args[0], c.at, err)
			}
			if folder != "" {
				items := st.Items[:0]
				for _, it := range st.Items {
					if it.FolderPath == folder || strings.HasPrefix(it.FolderPath, folder+"/") {
						items = append(items, it)
					}
				}
				st.Items = items
			}
			if c.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			var rows [][]string
			for _, it := range st.Items {
				rows = append(rows, []string{strconv.FormatUint(it.ID, 10), it.FolderPath, strconv.FormatUint(uint64(it.UID), 10),
					strings.Join(it.Flags, " "), it.InternalDate.Local().Format("2006-01-02 15:04"), formatBytes(it.Size)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (account %d) as of %s: %d folders, %d items\n", st.Version.Account.Address, acct,
				c.at, len(st.Folders), len(st.Items))
			return table(cmd.OutOrStdout(), []string{"ITEM", "FOLDER", "UID", "FLAGS", "DATE", "SIZE"}, rows)
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&c.at, "at", "last", "point in time")
	cmd.Flags().StringVar(&folder, "folder", "", "only this folder and its subfolders")
	return cmd
}

func newBackupItemCommand() *cobra.Command {
	var c restoreCommon
	var all, dumpBlob bool
	cmd := &cobra.Command{
		Use:   "item ACCOUNT ITEM [--all-versions] [--dump-blob]",
		Short: "Show an item's versions in the backup, or its message bytes",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return usagef("ITEM must be an item id: %v", err)
			}
			ctx := cmd.Context()
			env, err := openBackupEnv(ctx, c.dataDir, true, false)
			if err != nil {
				return err
			}
			defer env.Close()
			acct, err := resolveAccount(ctx, env.cat, args[0], restore.Latest)
			if err != nil {
				return err
			}
			vs, err := env.cat.ItemVersions(ctx, acct, id)
			if err != nil {
				return fmt.Errorf("item %d of %s: %w", id, args[0], err)
			}
			if len(vs) == 0 {
				return fmt.Errorf("item %d of %s: %w", id, args[0], restore.ErrNotInBackup)
			}
			if !all {
				vs = vs[len(vs)-1:]
			}
			if dumpBlob {
				b, err := env.repo.ReadBlob(ctx, vs[len(vs)-1].Digest)
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(b)
				return err
			}
			if c.json {
				return printJSON(cmd.OutOrStdout(), vs)
			}
			var rows [][]string
			for _, v := range vs {
				state := "live"
				if v.Deleted {
					state = "deleted"
				}
				rows = append(rows, []string{strconv.FormatUint(v.LSN, 10), v.Time.Local().Format(timeLayout), state,
					strconv.FormatUint(v.Folder, 10), strconv.FormatUint(uint64(v.UID), 10), strings.Join(v.Flags, " "),
					formatBytes(v.Size), v.Digest.String()[:16]})
			}
			return table(cmd.OutOrStdout(), []string{"LSN", "SINCE", "STATE", "FOLDER", "UID", "FLAGS", "SIZE", "DIGEST"}, rows)
		},
	}
	c.bind(cmd)
	cmd.Flags().BoolVar(&all, "all-versions", false, "every version, oldest first (default: the newest)")
	cmd.Flags().BoolVar(&dumpBlob, "dump-blob", false, "write the message bytes of the newest version shown to stdout")
	return cmd
}

func newBackupAccountsCommand() *cobra.Command {
	var c restoreCommon
	var deleted bool
	cmd := &cobra.Command{
		Use:   "accounts [--deleted]",
		Short: "List the accounts the backup holds, or only the deleted ones with their deletion times",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := openBackupEnv(ctx, c.dataDir, true, false)
			if err != nil {
				return err
			}
			defer env.Close()
			vs, err := env.cat.Accounts(ctx)
			if deleted {
				vs, err = env.cat.DeletedAccounts(ctx)
			}
			if err != nil {
				return err
			}
			if c.json {
				return printJSON(cmd.OutOrStdout(), vs)
			}
			var rows [][]string
			for _, v := range vs {
				state := "live"
				switch {
				case v.Deleted:
					state = "deleted " + v.Time.Local().Format(time.DateTime)
				case v.Excluded:
					state = "excluded " + v.Time.Local().Format(time.DateTime)
				}
				rows = append(rows, []string{strconv.FormatUint(v.Account.ID, 10), v.Account.Address, state})
			}
			return table(cmd.OutOrStdout(), []string{"ID", "ADDRESS", "STATE"}, rows)
		},
	}
	c.bind(cmd)
	cmd.Flags().BoolVar(&deleted, "deleted", false, "only deleted accounts, with when they were deleted")
	return cmd
}
