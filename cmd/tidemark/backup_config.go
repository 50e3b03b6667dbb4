package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/internal/timearg"
)

type backupConfigOptions struct {
	dataDir      string
	at           string
	provisioning bool
}

func newBackupConfigCommand() *cobra.Command {
	var o backupConfigOptions
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the server configuration stored in the backup as of a time",
		Long: `Prints tidemark.toml as stored with the newest catalog snapshot taken at or
before --at (default: now), and with --provisioning the domains, classes of
service and accounts of that moment (JSON).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBackupConfig(c.Context(), o, c) },
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().StringVar(&o.at, "at", "", "time (RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], dd/MM/yyyy HH:mm:ss, first, last)")
	cmd.Flags().BoolVar(&o.provisioning, "provisioning", false, "print the provisioning instead of tidemark.toml")
	return cmd
}

func nowForCLI() time.Time { return time.Now() }

func runBackupConfig(ctx context.Context, o backupConfigOptions, c *cobra.Command) error {
	env, err := openBackupEnv(ctx, o.dataDir, false, false)
	if err != nil {
		return err
	}
	defer env.Close()
	at := nowForCLI()
	if o.at != "" {
		p, err := timearg.Parse(o.at, time.Local)
		if err != nil {
			return usagef("--at: %v", err)
		}
		switch {
		case p.First:
			snaps, err := env.repo.Snapshots(ctx)
			if err != nil || len(snaps) == 0 {
				return fmt.Errorf("no configuration stored yet: %v", err)
			}
			at = snaps[0].Time
		case !p.Last:
			at = p.Time
		}
	}
	cfg, when, err := env.repo.ConfigAt(ctx, at)
	if errors.Is(err, repository.ErrNotFound) {
		return fmt.Errorf("the backup holds no configuration stored at or before %s (a running server stores one a second after it starts, then every snapshot interval): %w",
			at.Local().Format(time.RFC3339), err)
	}
	if err != nil {
		return err
	}
	out := c.OutOrStdout()
	fmt.Fprintf(out, "# configuration stored %s\n", when.Local().Format(time.RFC3339))
	if o.provisioning {
		_, err = out.Write(cfg.Provisioning)
	} else {
		_, err = out.Write(cfg.TOML)
	}
	return err
}
