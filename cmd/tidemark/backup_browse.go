package main

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/restore"
)

// newBackupBrowseCommands are the backup subcommands that find what to
// restore: ls, item and accounts (and export). A running server answers
// their catalog questions over the admin socket (it holds the catalog);
// message bytes are read from the repository directly.
func newBackupBrowseCommands() []*cobra.Command {
	return []*cobra.Command{newBackupLsCommand(), newBackupItemCommand(), newBackupAccountsCommand(), newBackupExportCommand()}
}

const timeLayout = "2006-01-02 15:04:05.000000000 MST"

func newBackupLsCommand() *cobra.Command {
	var c restoreCommon
	var folder string
	var headers bool
	cmd := &cobra.Command{
		Use:   "ls ACCOUNT [--at T] [--folder F] [--headers]",
		Short: "List an account's folders and items as of a time",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := restoreTime("--at", c.at)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			a, env, err := askCatalog(ctx, c.dataDir, catalogQuery{Query: "account_at", Account: args[0], At: at})
			if err != nil {
				return err
			}
			defer env.Close()
			if a.State == nil {
				return fmt.Errorf("account %s at %s: the server answered without a state", args[0], c.at)
			}
			acct, st := a.Account, *a.State
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
				row := []string{strconv.FormatUint(it.ID, 10), it.FolderPath, strconv.FormatUint(uint64(it.UID), 10),
					strings.Join(it.Flags, " "), it.InternalDate.Local().Format("2006-01-02 15:04"), formatBytes(it.Size)}
				if headers {
					from, subject := "", ""
					if b, err := env.repo.ReadBlob(ctx, it.Digest); err != nil {
						subject = "(unreadable: " + err.Error() + ")"
					} else {
						from, subject = summaryHeaders(b)
					}
					row = append(row, from, subject)
				}
				rows = append(rows, row)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (account %d) as of %s: %d folders, %d items\n", st.Version.Account.Address, acct,
				c.at, len(st.Folders), len(st.Items))
			head := []string{"ITEM", "FOLDER", "UID", "FLAGS", "DATE", "SIZE"}
			if headers {
				head = append(head, "FROM", "SUBJECT")
			}
			return table(cmd.OutOrStdout(), head, rows)
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&c.at, "at", "last", "point in time")
	cmd.Flags().StringVar(&folder, "folder", "", "only this folder and its subfolders")
	cmd.Flags().BoolVar(&headers, "headers", false, "also show each message's From and Subject (reads every listed message from the repository)")
	return cmd
}

// summaryHeaders returns a message's From and Subject, MIME-decoded and cut
// to a line's width, for listings. Malformed headers give what can be read.
func summaryHeaders(msg []byte) (from, subject string) {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = bytes.Index(msg, []byte("\n\n"))
	}
	if end < 0 {
		end = len(msg)
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(msg[:end:end], "\r\n\r\n"...)))).ReadMIMEHeader()
	if err != nil && h == nil {
		return "", ""
	}
	dec := new(mime.WordDecoder)
	clean := func(s string) string {
		if d, err := dec.DecodeHeader(s); err == nil {
			s = d
		}
		s = strings.Join(strings.Fields(s), " ")
		if r := []rune(s); len(r) > 60 {
			s = string(r[:59]) + "…"
		}
		return s
	}
	return clean(h.Get("From")), clean(h.Get("Subject"))
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
			a, env, err := askCatalog(ctx, c.dataDir, catalogQuery{Query: "item_versions", Account: args[0], At: restore.Latest, Item: id})
			if err != nil {
				return err
			}
			defer env.Close()
			vs := a.Versions
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
			a, env, err := askCatalog(ctx, c.dataDir, catalogQuery{Query: "accounts", Deleted: deleted})
			if err != nil {
				return err
			}
			env.Close() // the catalog alone answers
			vs := a.Accounts
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
