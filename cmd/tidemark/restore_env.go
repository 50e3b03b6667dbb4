package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
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
	if now := time.Now(); p.Time.After(now) {
		return time.Time{}, usagef("%s %s is in the future (it is now %s): the backup holds nothing after now; give \"last\" for the newest state",
			flag, p.Time.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return p.Time, nil
}

// resolveAccount turns an account id or address into the id the backup
// knows it by as of t.
func resolveAccount(ctx context.Context, cat *catalog.Catalog, arg string, t time.Time) (uint64, error) {
	if id, err := strconv.ParseUint(arg, 10, 64); err == nil {
		return id, nil
	}
	id, err := cat.FindAccount(ctx, strings.ToLower(arg), t)
	if errors.Is(err, repository.ErrNotFound) && !t.Equal(restore.Latest) && !t.Equal(restore.Earliest) {
		if first, ok, ferr := firstHeld(ctx, cat, arg); ferr == nil && ok && first.After(t) {
			return 0, fmt.Errorf("account %s did not exist yet at %s: the backup holds it from %s (when it was created or first backed up); give a time at or after that: %w",
				arg, t.Format(time.RFC3339), first.Format(time.RFC3339), restore.ErrNotInBackup)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("account %s: %w", arg, err)
	}
	return id, nil
}

// firstHeld returns the earliest time the catalog holds a live version
// of an account with address addr.
func firstHeld(ctx context.Context, cat *catalog.Catalog, addr string) (time.Time, bool, error) {
	all, err := cat.Accounts(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	var first time.Time
	found := false
	for _, a := range all {
		vs, err := cat.AccountVersions(ctx, a.Account.ID)
		if err != nil {
			return time.Time{}, false, err
		}
		for _, v := range vs {
			if !v.Gone() && strings.EqualFold(v.Account.Address, addr) && (!found || v.Time.Before(first)) {
				first, found = v.Time, true
			}
		}
	}
	return first, found, nil
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
