package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/repository"
)

func init() {
	serverOps["backup.take-ownership"] = func(ctx context.Context, s *adminServer, _ json.RawMessage) (any, error) {
		if s.backup == nil {
			return nil, fmt.Errorf("the real-time backup is off on this server (backup.enabled = false or --no-backup)")
		}
		o, err := s.backup.TakeOwnership(ctx)
		return o, takeOwnershipError(s.dataDir, err)
	}
}

type takeOwnershipOptions struct {
	dataDir string
	yes     bool
	json    bool
}

func newBackupTakeOwnershipCommand() *cobra.Command {
	var o takeOwnershipOptions
	cmd := &cobra.Command{
		Use:   "take-ownership --yes",
		Short: "Make this server the owner of its backup repository (the current owner is refused from then on)",
		Long: `A backup repository belongs to one server history: the server that owns it
(an identity kept in its data directory, and an epoch kept in the repository).
A server that does not own its repository refuses to ship to it, keeps taking
mail, and says so in backup status, backup verify and its log.

take-ownership makes this server the owner at the next epoch. Use it when this
server is the one that should go on: the server that owned the repository
until now (for instance the original server after a rebuilt one took over, or
a rebuild used only for a rehearsal) is refused from then on, and must be
pointed at a new repository if it runs again. It is allowed only when this
server's redo log continues the repository's history (the repository holds no
record this server did not write); otherwise point [backup] repository at a
new location. A running server starts shipping at once.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !o.yes {
				return usagef("take-ownership makes the repository refuse its current owner: run it again with --yes")
			}
			return runTakeOwnership(c.Context(), o, c)
		},
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().BoolVar(&o.yes, "yes", false, "confirm")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the new owner record as JSON")
	return cmd
}

func runTakeOwnership(ctx context.Context, o takeOwnershipOptions, c *cobra.Command) error {
	var owner repository.Owner
	served, err := callServer(ctx, o.dataDir, "backup.take-ownership", nil, &owner)
	if !served {
		owner, err = takeOwnershipOffline(ctx, o.dataDir)
	}
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.OutOrStdout(), owner)
	}
	fmt.Fprintf(c.OutOrStdout(), "this server owns the repository: %s\n", owner)
	if len(owner.Previous) > 0 {
		fmt.Fprintf(c.OutOrStdout(), "the previous owner (%s) is refused from now on\n", owner.Previous[0])
	}
	return nil
}

// takeOwnershipOffline is take-ownership for a stopped server.
func takeOwnershipOffline(ctx context.Context, dataDir string) (repository.Owner, error) {
	env, err := openBackupEnv(ctx, dataDir, false, false)
	if err != nil {
		return repository.Owner{}, err
	}
	defer env.Close()
	id, _, err := loadIdentity(dataDir)
	if err != nil {
		return repository.Owner{}, err
	}
	host, _ := os.Hostname()
	abs, _ := filepath.Abs(dataDir)
	o, err := repository.TakeOwnership(ctx, env.repo, id, dirHistory(filepath.Join(dataDir, "redolog")),
		repository.ClaimInfo{How: repository.ClaimTakeOver, Host: host, Data: abs, Now: time.Now()}, dataDir)
	return o, takeOwnershipError(dataDir, err)
}
