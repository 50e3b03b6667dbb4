package repository

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/internal/vfsutil"
)

// IdentityFile is the server identity inside the data directory: a random
// id written when the directory is created, and the repository and epoch
// of the server's claim on its backup repository (owner.go). It is never
// in a backup, so a data directory rebuilt from one is a new server until
// it takes ownership.
const IdentityFile = "server-identity.json"

// CatalogDir is the scanner's local catalog inside the data directory.
const CatalogDir = "backup-catalog"

// LoadIdentity reads dir's server identity. A data directory from before
// identities existed gets one (created reports it), so its first start
// can adopt its repository.
func LoadIdentity(dir string, now time.Time) (id Identity, created bool, err error) {
	path := filepath.Join(dir, IdentityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		id, err = CreateIdentity(dir, now)
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

// ReadIdentity is LoadIdentity without creating: a data directory without
// one reads as a server with no identity yet (it gets one at its next
// start).
func ReadIdentity(dir string) (Identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, nil
	}
	if err != nil {
		return Identity{}, fmt.Errorf("read server identity: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("%s: %w", IdentityFile, err)
	}
	return id, nil
}

// CreateIdentity writes a new identity into dir.
func CreateIdentity(dir string, now time.Time) (Identity, error) {
	id, err := NewIdentity(now)
	if err != nil {
		return id, err
	}
	return id, SaveIdentity(dir, id)
}

// SaveIdentity writes id durably and atomically, private to its owner.
func SaveIdentity(dir string, id Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	if err := vfsutil.WriteFile(vfsutil.Private(vfs.Default), filepath.Join(dir, IdentityFile), append(b, '\n')); err != nil {
		return fmt.Errorf("write server identity: %w", err)
	}
	return nil
}
