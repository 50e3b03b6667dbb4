package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/restore"
)

const backupExportLong = `Write a self-contained backup repository holding the chosen domains'
provisioning (classes of service, domains, accounts with their attributes,
password hashes and aliases, folders) and items as they were at --at, each
blob stored once, compressed. It is a snapshot, not a copy of the history:
restoring from it gives that one point in time.

DEST is a directory or s3://bucket/prefix (with --s3-* flags, or
TIDEMARK_S3_ACCESS_KEY / TIDEMARK_S3_SECRET_KEY) and must be empty: an
export never writes into an existing repository. Read it with
"tidemark restore server --from DEST" (a new server holding just those
accounts) or "tidemark restore external DEST" (import into a server).

It reads the local catalog: stop "tidemark serve" first.`

func newBackupExportCommand() *cobra.Command {
	var c restoreCommon
	var domains string
	var s3 s3Config
	cmd := &cobra.Command{
		Use:   "export DEST [--domains d1,d2] [--at T]",
		Short: "Export domains as of a time into a new self-contained repository",
		Long:  backupExportLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := restoreTime("--at", c.at)
			if err != nil {
				return err
			}
			envS3(&s3)
			return runBackupExport(cmd.Context(), cmd, c, args[0], splitList(domains), s3, at)
		},
	}
	c.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&c.at, "at", "last", "export the accounts as of this time")
	f.StringVar(&domains, "domains", "", "comma-separated domains to export (default: all)")
	bindS3Flags(cmd, &s3)
	return cmd
}

func runBackupExport(ctx context.Context, cmd *cobra.Command, c restoreCommon, dest string, domains []string, s3 s3Config, at time.Time) error {
	if !strings.Contains(dest, "://") {
		abs, err := filepath.Abs(dest)
		if err != nil {
			return err
		}
		if names, err := os.ReadDir(abs); err == nil && len(names) > 0 {
			return fmt.Errorf("export into %s: %w", abs, restore.ErrNotEmpty)
		}
		dest = abs
	}
	env, err := openBackupEnv(ctx, c.dataDir, true, false)
	if err != nil {
		return err
	}
	defer env.Close()
	vol, _, err := openRepositoryVolume(ctx, c.dataDir, backupConfig{Repository: dest, S3: s3})
	if err != nil {
		return err
	}
	start := time.Now()
	rep, err := restore.Export(ctx, env.cat, env.repo, vol, &restore.ExportOptions{Domains: domains, At: at,
		Progress: func(done, total int) { fmt.Fprintf(os.Stderr, "export: %d/%d blobs\n", done, total) }})
	if err != nil {
		return err
	}
	// Items whose blob could not be read are left out of the export: the
	// report lists them, and the command fails after printing it.
	var incomplete error
	if len(rep.Unrestored) > 0 {
		incomplete = fmt.Errorf("export: %d items were left out (listed in the report with the reason): %w",
			len(rep.Unrestored), restore.ErrIncomplete)
	}
	if c.json {
		if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
		return incomplete
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "exported to %s (repository %s) as of %s in %s\n", dest, rep.Repository,
		rep.At.Local().Format(timeLayout), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(w, "  domains: %s\n  accounts: %d, folders: %d, items: %d (%s), blobs: %d (%s stored), records: %d in %d segments\n",
		strings.Join(rep.Domains, ", "), len(rep.Accounts), rep.Folders, rep.Items, formatBytes(rep.RawBytes),
		rep.Blobs, formatBytes(rep.StoredBytes), rep.Records, rep.Segments)
	for _, f := range rep.Unrestored {
		fmt.Fprintf(w, "  left out: item %d in %q: %s\n", f.Item, f.Folder, f.Reason)
	}
	return incomplete
}

// splitList splits a comma-separated flag value, dropping empty parts.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// envS3 fills missing S3 keys from the environment.
func envS3(s3 *s3Config) {
	if s3.AccessKey == "" {
		s3.AccessKey = os.Getenv("TIDEMARK_S3_ACCESS_KEY")
	}
	if s3.SecretKey == "" {
		s3.SecretKey = os.Getenv("TIDEMARK_S3_SECRET_KEY")
	}
}

// bindS3Flags adds the --s3-* flags of a repository given on the command
// line.
func bindS3Flags(cmd *cobra.Command, s3 *s3Config) {
	f := cmd.Flags()
	f.StringVar(&s3.Endpoint, "s3-endpoint", "", "S3 host:port")
	f.StringVar(&s3.Region, "s3-region", "", "S3 region")
	f.StringVar(&s3.AccessKey, "s3-access-key", "", "S3 access key")
	f.StringVar(&s3.SecretKey, "s3-secret-key", "", "S3 secret key")
	f.BoolVar(&s3.TLS, "s3-tls", false, "use https")
}
