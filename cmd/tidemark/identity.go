package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tidemark/tidemark/backup"
)

// identityFile is the server identity inside the data directory: a random
// id written when the directory is created, and the repository and epoch
// of the server's claim on its backup repository (backup owner.go).
// It is never in a backup, so a data directory rebuilt from one is a new
// server until it takes ownership.
const identityFile = "server-identity.json"

// loadIdentity reads dataDir's server identity. A data directory from
// before identities existed gets one (created reports it), so its first
// start can adopt its repository.
func loadIdentity(dataDir string) (id backup.Identity, created bool, err error) {
	path := filepath.Join(dataDir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		id, err = createIdentity(dataDir)
		return id, err == nil, err
	}
	if err != nil {
		return id, false, fmt.Errorf("read server identity: %w", err)
	}
	if err := json.Unmarshal(b, &id); err != nil || id.Server == "" {
		return id, false, fmt.Errorf("%s is damaged (%v): move it aside to give this data directory a new identity, which then must take ownership of its repository", path, err)
	}
	return id, false, nil
}

// createIdentity writes a new identity into dataDir.
func createIdentity(dataDir string) (backup.Identity, error) {
	id, err := backup.NewIdentity(time.Now())
	if err != nil {
		return id, err
	}
	return id, saveIdentity(dataDir, id)
}

// saveIdentity writes id durably and atomically, private to its owner.
func saveIdentity(dataDir string, id backup.Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFilePrivate(filepath.Join(dataDir, identityFile), append(b, '\n')); err != nil {
		return fmt.Errorf("write server identity: %w", err)
	}
	return nil
}

// writeFilePrivate writes path through a 0600 temporary file, fsync,
// rename and a directory fsync.
func writeFilePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readIdentity is loadIdentity without creating: a data directory without
// one reads as a server with no identity yet (it gets one at its next
// start).
func readIdentity(dataDir string) (backup.Identity, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, identityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return backup.Identity{}, nil
	}
	if err != nil {
		return backup.Identity{}, fmt.Errorf("read server identity: %w", err)
	}
	var id backup.Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("%s: %w", identityFile, err)
	}
	return id, nil
}
