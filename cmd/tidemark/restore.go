package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/restore"
)

func init() { commands = append(commands, newRestoreCommand) }

const restoreLong = `Restores read the backup repository and its catalog and write through the
engine, so restored items are new records that are themselves backed up. With
a server running they are operations of its backup queue: the command prints
the operation's id and returns (--sync waits, showing progress, and exits 0
done, 1 failed, 2 stopped, 4 interrupted, 5 incomplete); mail keeps flowing.
Without a server the same restore runs in the command's own process. An
in-place rollback puts only that account in maintenance while it runs.
"restore server" needs no data directory at all, only the repository.

Times: RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (local time unless a zone is given),
dd/MM/yyyy HH:mm:ss, first, last.

Every restore ends with a report: restored, skipped and unrestored counts and,
per account, the ids of unrestored items with the reason. One bad item never
stops the rest, but a restore whose report lists unrestored items exits 5
(incomplete) after printing it; 0 means everything asked for is back.

Restored blobs go to the current primary volume. With --obey-hsm-policy
(account, undelete, item, deleted-account, external) the restored accounts'
blobs that the HSM policy selects then move to the current secondary, as
tidemark hsm move would. restore server needs no such flag: it puts every
blob on the volume the rebuilt server had it on.`

// restoreCommon are the flags every restore mode takes.
type restoreCommon struct {
	dataDir  string
	json     bool
	obeyHSM  bool
	sync     bool
	at, from string
	// passwordFile holds the password of the repository restored from
	// (restore server and external).
	passwordFile string
}

// bindPassword adds --password-file.
func (c *restoreCommon) bindPassword(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.passwordFile, "password-file", "",
		"file holding the password of an encrypted repository (else "+passwordEnv+", or a prompt on a terminal)")
}

// bindOp binds the flags of a restore that runs as an operation.
func (c *restoreCommon) bindOp(cmd *cobra.Command) {
	c.bind(cmd)
	cmd.Flags().BoolVar(&c.sync, "sync", false, "with a server running: wait for the operation to end, showing its progress")
}

// submit runs a restore as an operation (opsubmit.go): on the running
// server, or in this process when none runs.
func (c *restoreCommon) submit(cmd *cobra.Command, kind string, params any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	if c.obeyHSM {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		m["obey_hsm_policy"] = true
		if raw, err = json.Marshal(m); err != nil {
			return err
		}
	}
	return submitOperation(cmd.Context(), cmd, opOptions{dataDir: c.dataDir, json: c.json, sync: c.sync, reportOnly: true}, kind, raw)
}

func (c *restoreCommon) bind(cmd *cobra.Command) {
	dataDirFlag(cmd, &c.dataDir)
	cmd.Flags().BoolVar(&c.json, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&c.obeyHSM, "obey-hsm-policy", false, "then move the restored blobs the HSM policy selects to the current secondary volume")
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
			return c.submit(cmd, kindRestoreAccount, restoreAccountParams{Account: args[0], At: opTimeString(at),
				Into: strings.ToLower(into), HideInGAL: hide, InPlace: inPlace})
		},
	}
	c.bindOp(cmd)
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
			return c.submit(cmd, kindRestoreUndelete, restoreUndeleteParams{Account: args[0], From: opTimeString(t1), To: opTimeString(t2),
				Folder: restore.RestoredPrefix + time.Now().Format("2006-01-02 15:04:05")})
		},
	}
	c.bindOp(cmd)
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
			return c.submit(cmd, kindRestoreItem, restoreItemParams{Account: args[0], Item: item, At: opTimeString(at), Folder: folder})
		},
	}
	c.bindOp(cmd)
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
			return c.submit(cmd, kindRestoreDeletedAccount, restoreDeletedParams{Account: args[0], Into: strings.ToLower(into)})
		},
	}
	c.bindOp(cmd)
	cmd.Flags().StringVar(&into, "into", "", "address of the new account")
	return cmd
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
flags and TIDEMARK_S3_ACCESS_KEY / TIDEMARK_S3_SECRET_KEY or
TIDEMARK_S3_SECRET_KEY_FILE; secrets are never taken on the command line).
The configuration snapshot is checked: a path leading out of NEWDIR is
reset to its default and said so, secrets are not copied. Afterwards run
"tidemark serve --data NEWDIR".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.from == "" || !cmd.Flags().Changed("data") {
				return usagef("--from REPO and --data NEWDIR are required")
			}
			if c.obeyHSM {
				return usagef("restore server puts every blob on the volume the server had it on; --obey-hsm-policy is for restores into accounts")
			}
			at := restore.Latest
			if c.at != "" {
				var err error
				if at, err = restoreTime("--at", c.at); err != nil {
					return err
				}
			}
			if err := envS3(cmd, &s3); err != nil {
				return err
			}
			return runRestoreServer(cmd.Context(), cmd, c, backupConfig{Repository: c.from, S3: s3}, at)
		},
	}
	c.bind(cmd)
	c.bindPassword(cmd)
	f := cmd.Flags()
	f.StringVar(&c.from, "from", "", "repository: a directory or s3://bucket/prefix")
	f.StringVar(&c.at, "at", "", "rebuild the server as of this time (default: last)")
	bindS3Flags(cmd, &s3)
	f.Bool("keep-owner", false, "a rehearsal: leave the repository's owner as it is (the rebuilt server refuses to ship to it until it takes ownership)")
	return cmd
}
