package catalog

import "errors"

var (
	// ErrRepositoryMismatch is returned when the catalog was built from
	// another repository than the one given.
	ErrRepositoryMismatch = errors.New("backup: catalog belongs to another repository")
)
