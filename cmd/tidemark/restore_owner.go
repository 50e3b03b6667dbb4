package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tidemark/tidemark/backup/repository"
)

// claimRestored gives the rebuilt data directory in dir a new server
// identity and makes it the owner of the repository it will back up to:
// the one it was restored from when it continues it (the server that
// wrote that repository is refused from then on, so two servers never
// extend one history), or the new repository diverged names. With
// keepOwner (a rehearsal) a repository it continues keeps its owner; the
// returned Owner is then the zero value.
func claimRestored(ctx context.Context, from *repository.Repository, dir, diverged string, keepOwner bool) (repository.Owner, error) {
	id, err := createIdentity(dir)
	if err != nil {
		return repository.Owner{}, err
	}
	if keepOwner && diverged == "" {
		return repository.Owner{}, nil
	}
	repo := from
	if diverged != "" {
		cfg, _, err := loadConfig(dir)
		if err != nil {
			return repository.Owner{}, err
		}
		vol, _, err := openRepositoryVolume(ctx, dir, cfg.Backup)
		if err != nil {
			return repository.Owner{}, fmt.Errorf("create the new repository %s: %w", diverged, err)
		}
		if repo, err = openRepo(ctx, vol, repoPassword{dataDir: dir, cfgFile: cfg.Backup.PasswordFile, noPrompt: true}, true); err != nil {
			return repository.Owner{}, fmt.Errorf("create the new repository %s: %w", diverged, err)
		}
	}
	host, _ := os.Hostname()
	_, o, err := repo.Claim(ctx, id, repository.ClaimInfo{How: repository.ClaimRestore, Host: host, Data: dir, Now: time.Now()},
		func(id repository.Identity) error { return saveIdentity(dir, id) })
	if err != nil {
		return o, fmt.Errorf("take ownership of the repository: %w", err)
	}
	return o, nil
}

func printRestoredOwner(w io.Writer, o repository.Owner, diverged string) {
	if o.Server == "" {
		fmt.Fprintln(w, "the repository keeps its owner (--keep-owner): the restored server refuses to ship to it unless it takes ownership (tidemark backup take-ownership --yes)")
		return
	}
	if diverged != "" || len(o.Previous) == 0 {
		fmt.Fprintf(w, "the restored server owns its repository (server %s, epoch %d)\n", o.Server, o.Epoch)
		return
	}
	fmt.Fprintf(w, "the restored server now owns the repository (server %s, epoch %d): the server that wrote it before (%s) refuses to ship to it if started again\n",
		o.Server, o.Epoch, o.Previous[0].Server)
}
