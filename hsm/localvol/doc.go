// Package localvol is an hsm.Volume in a local directory, reached through an
// injected pebble vfs.FS so the crash harness (vfs.NewCrashableMem) covers
// it. Every object is one file written with internal/vfsutil (temporary
// name, fsync, rename, fsync of the directory), so a crash leaves either the
// old object or the new one, never half of either.
//
// It also implements hsm.DeferredSyncer: PutDeferred writes and renames
// without fsync, and SyncDeferred later fsyncs the pending files and then
// their directories, each once, many in parallel. Until then a crash may
// lose a deferred object or leave it empty or torn under its final name.
//
// Layout: object "blobs/ab/ab12..." is the file <dir>/blobs/ab/ab12...;
// directories are created durably on first use and never removed (an empty
// directory costs nothing and removing it would race with a concurrent Put).
// Files ending in ".tmp" are writes a crash interrupted: List never reports
// them and New deletes them.
package localvol
