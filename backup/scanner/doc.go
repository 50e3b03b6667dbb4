// Package scanner is the backup's real-time scanner: it follows the redo
// log, ships sealed segments and blobs to the repository and keeps the
// catalog at the position shipped, publishing the safe LSN the engine's
// blob deletion and redo-log retention wait for. SmartScan compares the
// engine's current state with the catalog and ships corrections. Its
// background maintenance compacts segments, merges small packs, writes
// catalog snapshots and deletes what waited out its grace period; purge
// and verify (backup/maint) run through it while it holds off. It also
// reports status: what it shipped, the lag, the repository's figures.
//
// It never imports the engine: the caller hands it a LogSource, a
// BlobSource and a Source (backup/enginesrc adapts the engine).
package scanner
