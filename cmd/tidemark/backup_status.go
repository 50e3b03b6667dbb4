package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/scanner"
)

type backupStatusOptions struct {
	dataDir string
	json    bool
	fresh   bool
}

func newBackupStatusCommand() *cobra.Command {
	var o backupStatusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the backup's position, lag, size, dedup and compression",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return runBackupStatus(c.Context(), o, c) },
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the status as JSON")
	cmd.Flags().BoolVar(&o.fresh, "fresh", false, "recompute the repository's sizes and ratios now (a running server caches them for up to a minute)")
	return cmd
}

func runBackupStatus(ctx context.Context, o backupStatusOptions, c *cobra.Command) error {
	// A running server answers from its scanner's live view.
	var live scanner.Status
	if served, err := callServer(ctx, o.dataDir, "backup.status", map[string]bool{"fresh": o.fresh}, &live); served {
		if err != nil {
			return err
		}
		cfg, _, err := loadConfig(o.dataDir)
		if err != nil {
			return err
		}
		return printBackupStatus(c, o, cfg, live)
	}
	env, err := openBackupEnv(ctx, o.dataDir, false, false)
	if err != nil {
		return err
	}
	defer env.Close()
	st := scanner.Status{State: "stopped", RetentionDays: env.cfg.Backup.RetentionDays}
	if !env.cfg.Backup.Enabled {
		st.State = "disabled"
	}
	// The catalog is held by a running server; then only the repository
	// figures are shown.
	cat, err := catalog.Open(filepath.Join(o.dataDir, catalogDir), nil)
	if err == nil {
		defer cat.Close()
	} else {
		cat = nil
		st.State = "unknown (the catalog is held by another process)"
	}
	if err := scanner.RepositoryStatus(ctx, env.repo, cat, &st); err != nil {
		return err
	}
	st.FiguresTime = time.Now()
	if id, err := readIdentity(o.dataDir); err == nil {
		st.Server, st.Epoch = id.Server, id.Epoch
	}
	r, err := offlineRefusal(ctx, o.dataDir, env.repo)
	if err != nil {
		return err
	}
	if r != nil {
		st.State, st.LastError, st.Refusal, st.Resolve = "refused", r.Reason, r, resolveCommands(o.dataDir, r)
	}
	// Only the records after the shipped position are read: the lag.
	backup.MeasureLag(ctx, dirHistory(filepath.Join(o.dataDir, "redolog")), &st)
	return printBackupStatus(c, o, env.cfg, st)
}

func printBackupStatus(c *cobra.Command, o backupStatusOptions, cfg config, st scanner.Status) error {
	if o.json {
		return printJSON(c.OutOrStdout(), st)
	}
	shipped := "nothing yet"
	if st.ShippedLSN > 0 {
		shipped = fmt.Sprintf("lsn %d at %s", st.ShippedLSN, st.ShippedTime.Format(time.RFC3339))
	}
	state := st.State
	if st.LastError != "" {
		state += ": " + st.LastError
	}
	repo := resolve(o.dataDir, cfg.Backup.Repository)
	if st.Repository != "" {
		repo += " (id " + st.Repository + ")"
	}
	rows := [][]string{
		{"repository", repo},
		{"encryption", encryptionOrUnknown(st.Encryption)},
		{"scanner", state},
		{"shipped", shipped},
		{"lag", fmt.Sprintf("%d records, %.1f s", st.LagRecords, st.LagSeconds)},
	}
	if st.Server != "" {
		rows = append(rows, []string{"server", fmt.Sprintf("%s epoch %d", st.Server, st.Epoch)})
	}
	if st.Refusal != nil {
		if st.Refusal.Owner != nil {
			rows = append(rows, []string{"owner", st.Refusal.Owner.String()})
		}
		for i, r := range st.Resolve {
			k := ""
			if i == 0 {
				k = "resolve"
			}
			rows = append(rows, []string{k, r})
		}
	}
	switch {
	case st.Repository == "" || st.Refusal != nil:
		rows = append(rows, []string{"size", "unknown while the repository does not answer or refuses this server"})
	case st.FiguresTime.IsZero():
		rows = append(rows, []string{"size", "being computed; ask again in a moment"})
	default:
		rows = append(rows,
			[]string{"size", fmt.Sprintf("%s (%d segments, %d scans, %d snapshots)", formatBytes(st.RepositoryBytes), st.Segments, st.Scans, st.Snapshots)},
			[]string{"blobs", fmt.Sprintf("%d, %s stored", st.Blobs, formatBytes(st.BlobBytes))},
			[]string{"dedup ratio", fmt.Sprintf("%.2f", st.DedupRatio)},
			[]string{"compression ratio", fmt.Sprintf("%.2f", st.CompressionRatio)},
			[]string{"figures as of", st.FiguresTime.Local().Format(time.DateTime)})
	}
	rows = append(rows, []string{"retention", fmt.Sprintf("%d days", st.RetentionDays)})
	return table(c.OutOrStdout(), []string{"", ""}, rows)
}

func encryptionOrUnknown(s string) string {
	if s == "" {
		return "unknown (the repository did not answer yet)"
	}
	return s
}
