package main

import (
	"time"

	"github.com/tidemark/tidemark/backup"
)

// identityFile is the server identity inside the data directory
// (backup.IdentityFile).
const identityFile = backup.IdentityFile

func loadIdentity(dataDir string) (backup.Identity, bool, error) {
	return backup.LoadIdentity(dataDir, time.Now())
}

func createIdentity(dataDir string) (backup.Identity, error) {
	return backup.CreateIdentity(dataDir, time.Now())
}

func saveIdentity(dataDir string, id backup.Identity) error { return backup.SaveIdentity(dataDir, id) }

func readIdentity(dataDir string) (backup.Identity, error) { return backup.ReadIdentity(dataDir) }
