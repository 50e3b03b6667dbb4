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

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/redolog"
)

// own checks that this server owns repo, claiming a repository that has
// no owner when its redo log continues the repository's history (a new
// repository, or one written before owner records existed). It returns the
// identity holding the claim, or a *backup.Refusal.
func (b *backupRunner) own(ctx context.Context, repo *backup.Repository, hist backup.History) (backup.Identity, error) {
	b.idMu.Lock()
	defer b.idMu.Unlock()
	claim, note, err := repo.CheckOwner(ctx, b.id, hist)
	if err != nil {
		return b.id, err
	}
	if note != "" {
		b.logger.Info("backup repository ownership: "+note, "repository", b.where)
	}
	if claim != "" {
		id, o, err := repo.Claim(ctx, b.id, b.claimInfo(claim), func(id backup.Identity) error { return saveIdentity(b.dataDir, id) })
		if err != nil {
			return b.id, err
		}
		b.id = id
		if claim == backup.ClaimAdopt {
			b.logger.Warn("backup repository had no owner record (written by an older tidemark) and its history is a prefix of this server's redo log: this server adopts it",
				"repository", b.where, "server", o.Server, "epoch", o.Epoch)
		} else {
			b.logger.Info("backup repository claimed by this server", "repository", b.where, "server", o.Server, "epoch", o.Epoch, "how", o.How)
		}
	}
	if b.refusal.Swap(nil) != nil {
		b.logger.Info("backup repository: this server owns it again; the scanner resumes", "repository", b.where)
	}
	return b.id, nil
}

func (b *backupRunner) claimInfo(how string) backup.ClaimInfo {
	host, _ := os.Hostname()
	data, _ := filepath.Abs(b.dataDir)
	return backup.ClaimInfo{How: how, Host: host, Data: data, Now: time.Now()}
}

// refuse records a refusal; it is logged as an error once, not at every
// check.
func (b *backupRunner) refuse(r *backup.Refusal) {
	if prev := b.refusal.Swap(r); prev == nil || prev.Reason != r.Reason {
		b.logger.Error("backup: NOT SHIPPING to the repository: "+r.Reason+". Mail is still accepted and kept for the backup; to resolve: "+
			joinResolve(resolveCommands(b.dataDir, r)), "repository", b.where)
	}
}

// bindCatalog gives the scanner a catalog of this repository: a catalog
// built from another repository (the server was pointed at a new one) is
// moved aside to backup-catalog.<old id> and a new one is opened.
func (b *backupRunner) bindCatalog(repo *backup.Repository) error {
	b.catMu.Lock()
	defer b.catMu.Unlock()
	bound, err := b.cat.RepositoryID()
	if err != nil || bound == "" || bound == repo.ID() {
		return err
	}
	dir := filepath.Join(b.dataDir, catalogDir)
	aside := dir + "." + bound
	if err := b.cat.Close(); err != nil {
		return err
	}
	if err := os.Rename(dir, aside); err != nil {
		return fmt.Errorf("move aside the catalog of repository %s: %w", bound, err)
	}
	cat, err := backup.OpenCatalog(dir, nil)
	if err != nil {
		return err
	}
	b.cat = cat
	b.logger.Warn("the backup repository changed: the catalog of the previous one was moved aside and a new one is built",
		"previous", bound, "moved_to", aside, "repository", b.where, "id", repo.ID())
	return nil
}

// catalog returns the current catalog.
func (b *backupRunner) catalog() *backup.Catalog {
	b.catMu.RLock()
	defer b.catMu.RUnlock()
	return b.cat
}

// takeOwnership makes this running server the owner of its repository
// when its redo log continues the repository's history, and wakes the
// runner to start shipping.
func (b *backupRunner) takeOwnership(ctx context.Context) (backup.Owner, error) {
	repo := b.repo.Load()
	if repo == nil {
		return backup.Owner{}, errors.New("the backup repository has not answered since the server started; try again when backup status shows it")
	}
	b.idMu.Lock()
	o, err := takeOwnership(ctx, repo, b.id, backup.LogOf(b.log), b.claimInfo(backup.ClaimTakeOver), b.dataDir)
	if err == nil {
		b.id.Repository, b.id.Epoch = repo.ID(), o.Epoch
	}
	b.idMu.Unlock()
	if err != nil {
		return o, err
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return o, nil
}

// takeOwnership claims repo for id at the next epoch, provided hist
// continues the repository's history.
func takeOwnership(ctx context.Context, repo *backup.Repository, id backup.Identity, hist backup.History, info backup.ClaimInfo, dataDir string) (backup.Owner, error) {
	claim, _, err := repo.CheckOwner(ctx, id, hist)
	if err == nil && claim == "" {
		o, _, err := repo.Owner(ctx)
		return o, err // already the owner: nothing to take
	}
	if r, ok := errors.AsType[*backup.Refusal](err); ok && !r.CanTakeOwnership {
		return backup.Owner{}, fmt.Errorf("cannot take ownership: %s; point [backup] repository in %s at a new location instead",
			r.Reason, filepath.Join(dataDir, configFile))
	} else if err != nil && !ok {
		return backup.Owner{}, err
	}
	_, o, err := repo.Claim(ctx, id, info, func(id backup.Identity) error { return saveIdentity(dataDir, id) })
	return o, err
}

// resolveCommands says how to end a refusal.
func resolveCommands(dataDir string, r *backup.Refusal) []string {
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

func (d dirHistory) NewReader(from uint64) (backup.LogReader, error) {
	return redolog.ReadDir(vfs.Default, string(d), from)
}

// offlineRefusal checks, for a stopped server, whether its repository
// would refuse it; nil when it owns the repository or would claim it.
func offlineRefusal(ctx context.Context, dataDir string, repo *backup.Repository) (*backup.Refusal, error) {
	id, err := readIdentity(dataDir)
	if err != nil {
		return nil, err
	}
	_, _, err = repo.CheckOwner(ctx, id, dirHistory(filepath.Join(dataDir, "redolog")))
	if r, ok := errors.AsType[*backup.Refusal](err); ok {
		return r, nil
	}
	return nil, err
}

// ownForCLI is the ownership check of a command that writes to the
// repository with the server stopped (backup scan): it claims a repository
// without owner as serve would, and fails with the refusal and the
// commands that resolve it otherwise.
func ownForCLI(ctx context.Context, dataDir string, repo *backup.Repository, hist backup.History, log *slog.Logger) (backup.Identity, error) {
	id, _, err := loadIdentity(dataDir)
	if err != nil {
		return id, err
	}
	b := &backupRunner{dataDir: dataDir, where: dataDir, logger: log, id: id}
	id, err = b.own(ctx, repo, hist)
	if r, ok := errors.AsType[*backup.Refusal](err); ok {
		return id, refusalError(dataDir, r)
	}
	return id, err
}

// refuseUnlessOwner fails, for a stopped server, when the repository
// refuses it: purge must not delete from another server's history.
func refuseUnlessOwner(ctx context.Context, dataDir string, repo *backup.Repository) error {
	r, err := offlineRefusal(ctx, dataDir, repo)
	if err != nil || r == nil {
		return err
	}
	return refusalError(dataDir, r)
}

func refusalError(dataDir string, r *backup.Refusal) error {
	return fmt.Errorf("%w. To resolve: %s", r, joinResolve(resolveCommands(dataDir, r)))
}
