// Package datadir is the one definition of a tidemark data directory's
// layout: the names of its entries and where a volume lives by default.
// The engine, restore and the CLI take every path from here.
//
//	<data>/LOCK                 held while an engine has it open
//	<data>/tidemark.toml        the server's configuration
//	<data>/redolog/             the redo log, source of truth
//	<data>/meta/                Pebble: the projection and the applied LSN
//	<data>/volumes/<name>/      local blob volumes (default place)
//	<data>/cache/<name>/        read caches of S3 volumes
//	<data>/operations/          the operations' records
package datadir

import "path/filepath"

// Entries of a data directory.
const (
	Lock       = "LOCK"
	Config     = "tidemark.toml"
	RedoLog    = "redolog"
	Meta       = "meta"
	Volumes    = "volumes"
	Cache      = "cache"
	Operations = "operations"
)

// Join joins a data directory and the path of one of its entries, the way
// the engine's file system does (Join is filepath.Join; a vfs.FS's
// PathJoin gives the same result on the real file system).
func Join(dataDir string, elem ...string) string {
	return filepath.Join(append([]string{dataDir}, elem...)...)
}

// VolumeDir is where a local volume named name lives when its spec gives
// no path: <data>/volumes/<name>.
func VolumeDir(dataDir, name string) string { return Join(dataDir, Volumes, name) }

// VolumePath resolves a local volume's configured path: empty is
// VolumeDir, a relative path is taken from the data directory.
func VolumePath(dataDir, name, path string) string {
	switch {
	case path == "":
		return VolumeDir(dataDir, name)
	case filepath.IsAbs(path):
		return filepath.Clean(path)
	}
	return Join(dataDir, path)
}

// CacheDir is where the read cache of the S3 volume name lives.
func CacheDir(dataDir, name string) string { return Join(dataDir, Cache, name) }
