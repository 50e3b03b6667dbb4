//go:build !unix

package vfsutil

import "github.com/cockroachdb/pebble/v2/vfs"

// chmodPrivate does nothing where files have no Unix mode bits.
func chmodPrivate(vfs.File, string) error { return nil }
