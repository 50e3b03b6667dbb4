package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/redolog"
)

// repairReadTimeout bounds each read from the backup repository.
const repairReadTimeout = 5 * time.Minute

// redologRepairOptions are the flags of redolog repair.
type redologRepairOptions struct {
	dataDir   string
	acceptGap bool
	reason    string
	json      bool
}

func newRedologRepairCommand() *cobra.Command {
	var o redologRepairOptions
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Bring a redo log that lost its last records level with the mailbox (server stopped)",
		Long: `When the last record of the redo log is damaged (one bad byte is enough), the
log cuts it on open as a torn write, but the mailbox had already applied it,
and the server refuses to start: "the redo log ends at lsn N but the
projection applied records up to lsn M". Stop the server and run this.

It reads the missing records (N+1..M) from the backup repository and writes
them back into the log with their original LSNs and commit times, after
checking that every message blob they name is on the primary volume (and
copying it back from the repository if not). The server then starts as it
was.

When the repository does not hold them (the scanner was off, the backup is
disabled, or the records were not shipped yet), it changes nothing and says
why, unless --accept-gap is given: then the log records a gap for those LSNs
(which, when, --reason) and goes on after M. The mailbox keeps what the lost
records did; the backup scanner cannot ship records that are gone, so it runs
a SmartScan when it reaches the gap, which brings the backup level with the
mailbox. redolog verify and redolog dump show the gap.`,
		Args: redologArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.reason) > redolog.MaxGapReason || !utf8.ValidString(o.reason) {
				return usagef("--reason must be UTF-8 text of at most %d bytes", redolog.MaxGapReason)
			}
			return runRedologRepair(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	dataDirFlag(cmd, &o.dataDir)
	f := cmd.Flags()
	f.BoolVar(&o.acceptGap, "accept-gap", false, "when the backup cannot give the missing records, record a gap and go on without them")
	f.StringVar(&o.reason, "reason", "", "why the gap is accepted, kept with it (default: what was lost and why)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

// repairBackup reads a backup repository for engine.RepairLog.
type repairBackup struct{ repo *repository.Repository }

func (b repairBackup) Records(ctx context.Context, from, to uint64, fn func(redolog.Record) error) error {
	ctx, cancel := context.WithTimeout(ctx, repairReadTimeout)
	defer cancel()
	return b.repo.Records(ctx, from, to, func(r redolog.Record) error {
		if repository.IsScanType(r.Type) {
			return nil // SmartScan corrections are not redo records
		}
		return fn(r)
	})
}

func (b repairBackup) ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, repairReadTimeout)
	defer cancel()
	return b.repo.ReadBlob(ctx, d)
}

func runRedologRepair(ctx context.Context, w io.Writer, o redologRepairOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, _, err := loadConfig(o.dataDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s is not a tidemark data directory", o.dataDir)
		}
		return err
	}
	ro := engine.RepairOptions{AcceptGap: o.acceptGap, Reason: o.reason}
	where := resolve(o.dataDir, cfg.Backup.Repository)
	var repoErr error
	if cfg.Backup.Repository != "" {
		// The repository is asked even when the scanner is disabled: it
		// may still hold the records.
		vol, _, err := openRepositoryVolume(ctx, o.dataDir, cfg.Backup)
		if err == nil {
			var repo *repository.Repository
			octx, cancel := context.WithTimeout(ctx, repairReadTimeout)
			repo, err = openRepo(octx, vol, repoPassword{dataDir: o.dataDir, cfgFile: cfg.Backup.PasswordFile}, false)
			if err == nil {
				err = repairTrusts(octx, o.dataDir, repo)
			}
			cancel()
			if err == nil {
				ro.Backup = repairBackup{repo}
			}
		}
		if err != nil && !errors.Is(err, repository.ErrNotRepository) {
			repoErr = err
		}
	}
	log := newLogger(os.Stderr, slog.LevelWarn)
	opts := engineOptions(o.dataDir, cfg, log, nil)
	if repoErr != nil && o.reason == "" {
		ro.Reason = fmt.Sprintf("the backup repository %s could not be read: %v", where, repoErr)
	}
	rep, err := engine.RepairLog(ctx, o.dataDir, opts, ro)
	if errors.Is(err, engine.ErrLocked) {
		return fmt.Errorf("redolog repair: %s is in use: stop tidemark serve first: %w", o.dataDir, err)
	}
	if errors.Is(err, engine.ErrNotRepaired) {
		why := rep.BackupMissing
		if repoErr != nil {
			why = fmt.Sprintf("the backup repository %s could not be read (%v)", where, repoErr)
		} else if ro.Backup == nil {
			why = fmt.Sprintf("there is no backup repository at %s", where)
		}
		return fmt.Errorf("redolog repair: the redo log ends at lsn %d but the mailbox applied records up to lsn %d, "+
			"and they cannot be restored: %s. Nothing was changed.\n"+
			"To let the log go on without them (the mailbox keeps what they did; the backup scanner runs a SmartScan "+
			"at the gap to bring the backup level), run: tidemark redolog repair --data %s --accept-gap",
			rep.LogLast, rep.Applied, why, o.dataDir)
	}
	if err != nil {
		return fmt.Errorf("redolog repair: %w", err)
	}
	// Prove the directory opens now: the same check the server does.
	eng, err := openEngine(o.dataDir, cfg, log, nil)
	if err != nil {
		return fmt.Errorf("redolog repair: the log was repaired but the data directory still does not open: %w", err)
	}
	if err := eng.Close(); err != nil {
		return fmt.Errorf("redolog repair: %w", err)
	}
	if o.json {
		return printJSON(w, rep)
	}
	switch {
	case rep.Restored > 0:
		fmt.Fprintf(w, "restored lsn %d..%d (%d records) from the backup repository %s with their original times",
			rep.LogLast+1, rep.Applied, rep.Restored, where)
		if rep.BlobsCopied > 0 {
			fmt.Fprintf(w, "; %d blob(s) missing on the primary volume copied back", rep.BlobsCopied)
		}
		fmt.Fprintln(w)
	case rep.Gap != nil:
		fmt.Fprintf(w, "recorded a gap in the redo log: lsn %d..%d at %s (%s)\n", rep.Gap.From, rep.Gap.To,
			rep.Gap.Time.Format(time.RFC3339), rep.Gap.Reason)
		fmt.Fprintln(w, "the mailbox keeps what those records did; new records follow the gap. The backup scanner "+
			"runs a SmartScan when it reaches the gap, which brings the backup level with the mailbox.")
	default:
		fmt.Fprintf(w, "nothing to repair: the redo log reaches lsn %d and the mailbox applied up to lsn %d\n", rep.LogLast, rep.Applied)
	}
	fmt.Fprintf(w, "the data directory opens: start it with tidemark serve --data %s\n", o.dataDir)
	return nil
}

// repairTrusts refuses a repository owned by another server: its records
// are another history's, and writing them into this log would invent mail.
// A repository without an owner record (made before ownership existed) is
// read as this server's.
func repairTrusts(ctx context.Context, dataDir string, repo *repository.Repository) error {
	owner, has, err := repo.Owner(ctx)
	if err != nil || !has {
		return err
	}
	id, err := readIdentity(dataDir)
	if err != nil {
		return err
	}
	if owner.Server != id.Server || id.Repository != repo.ID() {
		return fmt.Errorf("it belongs to another server history (owner %s; this data directory is server %s), so its records are not this log's", owner, orUnknown(id.Server))
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "without an identity"
	}
	return s
}
