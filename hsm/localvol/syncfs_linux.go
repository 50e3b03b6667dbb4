package localvol

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS makes everything written to the file system holding dir durable
// with one syncfs(2), as sync(1) does for all of them: the data of every
// file and every directory entry, ordered by the file system itself. Since
// Linux 5.8 it reports writeback errors.
func syncFS(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return false, err
	}
	return true, nil
}
