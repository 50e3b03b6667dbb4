package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
)

func init() { commands = append(commands, newBackupCommand) }

// newBackupCommand is `tidemark backup` with its subcommands. scan,
// purge, verify and export run as operations (op.go); the browsing
// commands open the catalog directly.
func newBackupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Inspect and maintain the backup repository (scan, purge, verify, status, config)",
		Long: `The real-time scanner inside "tidemark serve" keeps the backup repository
current. scan, purge, verify and export are operations: a running server runs
them live in its backup queue (the command prints the operation's id; --sync
waits); without a server they run in the command's own process. status, ls,
item, accounts and config work with the server running: it answers from its
catalog, and the repository is read beside it.`,
	}
	for _, sub := range []func() *cobra.Command{newBackupScanCommand, newBackupPurgeCommand,
		newBackupVerifyCommand, newBackupStatusCommand, newBackupConfigCommand, newBackupScannerCommand,
		newBackupTakeOwnershipCommand, newBackupKeyCommand, newBackupInitCommand} {
		cmd.AddCommand(sub())
	}
	cmd.AddCommand(newBackupBrowseCommands()...)
	return cmd
}

// backupEnv is what a backup command opened.
type backupEnv struct {
	dataDir string
	cfg     config
	raw     []byte
	repo    *repository.Repository
	cat     *catalog.Catalog // nil if not opened
	eng     *engine.Engine   // nil if not opened
}

func (b *backupEnv) Close() {
	if b.cat != nil {
		b.cat.Close()
	}
	if b.eng != nil {
		b.eng.Close()
	}
}

// openBackupEnv opens the repository, and the catalog and engine as asked.
// A catalog or engine held by a running server gives a clear error.
func openBackupEnv(ctx context.Context, dataDir string, withCatalog, withEngine bool) (*backupEnv, error) {
	return openBackupEnvInit(ctx, dataDir, withCatalog, withEngine, false)
}

// openBackupEnvInit is openBackupEnv that, with create, makes the
// repository if it does not exist yet.
func openBackupEnvInit(ctx context.Context, dataDir string, withCatalog, withEngine, create bool) (*backupEnv, error) {
	cfg, raw, err := loadConfig(dataDir)
	if err != nil {
		return nil, err
	}
	vol, _, err := openRepositoryVolume(ctx, dataDir, cfg.Backup)
	if err != nil {
		return nil, err
	}
	env := &backupEnv{cfg: cfg, raw: raw, dataDir: dataDir}
	env.repo, err = openRepo(ctx, vol, repoPassword{dataDir: dataDir, cfgFile: cfg.Backup.PasswordFile}, create)
	if errors.Is(err, repository.ErrNotRepository) {
		return nil, fmt.Errorf("%s: no backup repository yet (tidemark serve creates it): %w", resolve(dataDir, cfg.Backup.Repository), err)
	}
	if err != nil {
		return nil, err
	}
	if withEngine {
		env.eng, _, err = openEngineForAdmin(dataDir)
		if err != nil {
			return nil, err
		}
	}
	if withCatalog {
		env.cat, err = catalog.Open(filepath.Join(dataDir, catalogDir), nil)
		if err != nil {
			env.Close()
			if served, _ := callServer(ctx, dataDir, "ping", nil, nil); served {
				return nil, fmt.Errorf("a tidemark server is running on %s and holds the backup catalog; this command needs the server stopped: %w", dataDir, err)
			}
			return nil, fmt.Errorf("backup catalog: %w (held by another tidemark process?)", err)
		}
	}
	return env, nil
}

// scanner makes a scanner over env for a one-off run, for a server that
// owns the repository (claiming one without owner, as serve does).
func (b *backupEnv) scanner() (*scanner.Scanner, error) {
	src := enginesrc.New(b.eng)
	log := newLogger(os.Stderr, slog.LevelWarn)
	hist := src
	id, err := ownForCLI(context.Background(), b.dataDir, b.repo, hist, log)
	if err != nil {
		return nil, err
	}
	return scanner.New(b.repo, b.cat, hist, src, src, &scanner.Options{
		Now: time.Now, Logger: log, Config: configSource(context.Background(), b.eng, b.raw), NoCompaction: true, SnapshotInterval: -1,
		Owner: &id})
}
