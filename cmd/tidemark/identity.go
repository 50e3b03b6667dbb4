package main

import (
	"time"

	"github.com/tidemark/tidemark/backup/repository"
)

// identityFile is the server identity inside the data directory
// (repository.IdentityFile).
const identityFile = repository.IdentityFile

func loadIdentity(dataDir string) (repository.Identity, bool, error) {
	return repository.LoadIdentity(dataDir, time.Now())
}

func createIdentity(dataDir string) (repository.Identity, error) {
	return repository.CreateIdentity(dataDir, time.Now())
}

func saveIdentity(dataDir string, id repository.Identity) error {
	return repository.SaveIdentity(dataDir, id)
}

func readIdentity(dataDir string) (repository.Identity, error) {
	return repository.ReadIdentity(dataDir)
}
