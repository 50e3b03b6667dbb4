package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/redolog"
)

// resolveCommands says how to end a refusal.
func resolveCommands(dataDir string, r *repository.Refusal) []string {
	out := []string{fmt.Sprintf("point this server at a new repository: set [backup] repository in %s to a new directory or s3://bucket/prefix and restart tidemark serve",
		filepath.Join(dataDir, configFile))}
	if r.CanTakeOwnership {
		out = append(out, fmt.Sprintf("or make this server the owner: tidemark backup take-ownership --yes --data %s (the current owner is refused from then on)", dataDir))
	}
	return out
}

func joinResolve(cmds []string) string {
	s := ""
	for i, c := range cmds {
		if i > 0 {
			s += "; "
		}
		s += c
	}
	return s
}

// dirHistory reads the redo log of a stopped server's data directory.
type dirHistory string

func (d dirHistory) NewReader(from uint64) (repository.LogReader, error) {
	return redolog.ReadDir(vfs.Default, string(d), from)
}

// offlineRefusal checks, for a stopped server, whether its repository
// would refuse it; nil when it owns the repository or would claim it.
func offlineRefusal(ctx context.Context, dataDir string, repo *repository.Repository) (*repository.Refusal, error) {
	id, err := readIdentity(dataDir)
	if err != nil {
		return nil, err
	}
	_, _, err = repo.CheckOwner(ctx, id, dirHistory(filepath.Join(dataDir, "redolog")))
	if r, ok := errors.AsType[*repository.Refusal](err); ok {
		return r, nil
	}
	return nil, err
}

// ownForCLI is the ownership check of a command that writes to the
// repository with the server stopped (backup scan): it claims a repository
// without owner as serve would, and fails with the refusal and the
// commands that resolve it otherwise.
func ownForCLI(ctx context.Context, dataDir string, repo *repository.Repository, hist repository.History, log *slog.Logger) (repository.Identity, error) {
	id, _, err := loadIdentity(dataDir)
	if err != nil {
		return id, err
	}
	info := func(how string) repository.ClaimInfo {
		host, _ := os.Hostname()
		data, _ := filepath.Abs(dataDir)
		return repository.ClaimInfo{How: how, Host: host, Data: data, Now: time.Now()}
	}
	id, err = repository.Own(ctx, repo, id, hist, info, dataDir, dataDir, log)
	if r, ok := errors.AsType[*repository.Refusal](err); ok {
		return id, refusalError(dataDir, r)
	}
	return id, err
}

// takeOwnershipError says what to do when the repository cannot be taken
// over.
func takeOwnershipError(dataDir string, err error) error {
	if r, ok := errors.AsType[*repository.Refusal](err); ok && !r.CanTakeOwnership {
		return fmt.Errorf("cannot take ownership: %s; point [backup] repository in %s at a new location instead",
			r.Reason, filepath.Join(dataDir, configFile))
	}
	return err
}

// refuseUnlessOwner fails, for a stopped server, when the repository
// refuses it: purge must not delete from another server's history.
func refuseUnlessOwner(ctx context.Context, dataDir string, repo *repository.Repository) error {
	r, err := offlineRefusal(ctx, dataDir, repo)
	if err != nil || r == nil {
		return err
	}
	return refusalError(dataDir, r)
}

func refusalError(dataDir string, r *repository.Refusal) error {
	return fmt.Errorf("%w. To resolve: %s", r, joinResolve(resolveCommands(dataDir, r)))
}
