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

DEST is a directory or s3://bucket/prefix (with --s3-* flags and
TIDEMARK_S3_ACCESS_KEY / TIDEMARK_S3_SECRET_KEY or TIDEMARK_S3_SECRET_KEY_FILE)
and must be empty: an
export never writes into an existing repository. Read it with
"tidemark restore server --from DEST" (a new server holding just those
accounts) or "tidemark restore external DEST" (import into a server).

With a server running it is an operation of the server's backup queue (the
command prints its id; --sync waits), reading the server's catalog while
mail flows; S3 keys then come from the server's environment or [backup.s3].
Without a server it runs in this process.`

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
			if err := envS3(cmd, &s3); err != nil {
				return err
			}
			return runBackupExport(cmd.Context(), cmd, c, args[0], splitList(domains), s3, at)
		},
	}
	c.bindOp(cmd)
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
	keysToEnv(s3)
	return c.submit(cmd, kindBackupExport, exportParams{Dest: dest, Domains: domains, At: opTimeString(at),
		S3: s3Target{Endpoint: s3.Endpoint, Region: s3.Region, TLS: s3.TLS}})
}

// keysToEnv puts S3 keys given on the command line where a job run in
// this process finds them (jobDeps.s3Keys). A running server takes its own
// (its environment, or [backup.s3]): keys are never sent with an operation.
func keysToEnv(s3 s3Config) {
	if s3.AccessKey != "" {
		os.Setenv("TIDEMARK_S3_ACCESS_KEY", s3.AccessKey)
	}
	if s3.SecretKey != "" {
		os.Setenv("TIDEMARK_S3_SECRET_KEY", s3.SecretKey)
	}
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

// envS3 fills missing S3 keys from the environment (the secret from
// TIDEMARK_S3_SECRET_KEY or the file TIDEMARK_S3_SECRET_KEY_FILE names). A
// secret given with --s3-secret-key is refused.
func envS3(cmd *cobra.Command, s3 *s3Config) error {
	if cmd.Flags().Changed("s3-secret-key") {
		return refuseSecretFlag()
	}
	if s3.AccessKey == "" {
		s3.AccessKey = os.Getenv(s3AccessEnv)
	}
	if s3.SecretKey == "" {
		sk, err := s3SecretFromEnv()
		if err != nil {
			return err
		}
		s3.SecretKey = sk
	}
	return nil
}

// bindS3Flags adds the --s3-* flags of a repository given on the command
// line.
func bindS3Flags(cmd *cobra.Command, s3 *s3Config) {
	f := cmd.Flags()
	f.StringVar(&s3.Endpoint, "s3-endpoint", "", "S3 host:port")
	f.StringVar(&s3.Region, "s3-region", "", "S3 region")
	f.StringVar(&s3.AccessKey, "s3-access-key", "", "S3 access key")
	// Kept only to refuse it with a message that says where the secret goes.
	f.StringVar(&s3.SecretKey, "s3-secret-key", "", "refused: use TIDEMARK_S3_SECRET_KEY or TIDEMARK_S3_SECRET_KEY_FILE")
	_ = f.MarkHidden("s3-secret-key")
	f.BoolVar(&s3.TLS, "s3-tls", false, "use https")
}
