// Package vfsutil holds the one durable-write helper every tidemark package
// uses for whole files: write to a temporary name, fsync, close, rename over
// the final name and fsync the directory, so a reader never sees half a file
// and a crash leaves either the old file or the new one (ARCHITECTURE invariant 9).
package vfsutil
