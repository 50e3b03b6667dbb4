package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/internal/timearg"
	"github.com/tidemark/tidemark/restore"
)

// restoreTime parses a time argument; first and last become the ends of
// everything a catalog holds.
func restoreTime(flag, s string) (time.Time, error) {
	p, err := timearg.Parse(s, time.Local)
	if err != nil {
		return time.Time{}, usagef("%s: %w", flag, err)
	}
	switch {
	case p.First:
		return restore.Earliest, nil
	case p.Last:
		return restore.Latest, nil
	}
	return p.Time, nil
}

// resolveAccount turns an account id or address into the id the backup
// knows it by as of t.
func resolveAccount(ctx context.Context, cat *backup.Catalog, arg string, t time.Time) (uint64, error) {
	if id, err := strconv.ParseUint(arg, 10, 64); err == nil {
		return id, nil
	}
	id, err := cat.FindAccount(ctx, strings.ToLower(arg), t)
	if err != nil {
		return 0, fmt.Errorf("account %s: %w", arg, err)
	}
	return id, nil
}

// openRestoreEnv opens the repository, the local catalog and the engine of
// a stopped server for a restore.
func openRestoreEnv(ctx context.Context, dataDir string) (*backupEnv, *restore.Restorer, error) {
	env, err := openBackupEnv(ctx, dataDir, true, true)
	if err != nil {
		return nil, nil, err
	}
	r := restore.New(env.eng, env.cat, env.repo, &restore.Options{Now: time.Now,
		Progress: func(p restore.Progress) {
			fmt.Fprintf(os.Stderr, "%s: %d/%d items (%d unrestored)\n", p.Account, p.Done, p.Total, p.Unrestored)
		}})
	return env, r, nil
}

// printReport prints a restore report as text or JSON, and returns the
// report's ErrIncomplete error when it lists unrestored items.
func printReport(w io.Writer, rep restore.Report, asJSON bool) error {
	var err error
	if asJSON {
		err = printJSON(w, rep)
	} else {
		_, err = fmt.Fprint(w, rep)
	}
	if err != nil {
		return err
	}
	// A report listing unrestored items is printed in full, then the
	// command fails: a partial restore must not look like success.
	return rep.Incomplete()
}
