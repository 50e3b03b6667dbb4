//go:build unix

package vfsutil

import (
	"fmt"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// chmodPrivate sets FileMode on an open file. A file with no OS descriptor
// is not an OS file and has no mode to set.
func chmodPrivate(f vfs.File, name string) error {
	fd := f.Fd()
	if fd == vfs.InvalidFd {
		return nil
	}
	if err := syscall.Fchmod(int(fd), uint32(FileMode)); err != nil {
		_ = f.Close()
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	return nil
}
