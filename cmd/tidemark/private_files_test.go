package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// requirePrivate walks root and fails for every directory that is not 0700
// and every regular file that is not 0600.
func requirePrivate(t *testing.T, what, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			if mode.Perm() != 0o700 {
				t.Errorf("%s: directory %s is %v, want 0700", what, p, mode.Perm())
			}
		case mode.IsRegular():
			if mode.Perm() != 0o600 {
				t.Errorf("%s: file %s is %v, want 0600", what, p, mode.Perm())
			}
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("%s: walk %s: %v", what, root, err)
	}
	return n
}

// TestFilesArePrivate runs init, serve with a backup, backup export and
// restore server under the common umask 022 and checks that every
// directory and file they created, in the data directories, the repository
// and the export, is private to the owner.
func TestFilesArePrivate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	repoDir := filepath.Join(top, "repo")
	newServerWithRepo(t, bin, dir, repoDir)
	requirePrivate(t, "init", dir)

	s := startServer(t, bin, dir)
	var acked sync.Map
	deliverN(t, s.lmtp, "private", 5, &acked)
	waitShipped(t, bin, dir, 5)
	s.stop(t)
	requirePrivate(t, "serve", dir)
	requirePrivate(t, "backup repository", repoDir)

	exportDir := filepath.Join(top, "export")
	tm(t, bin, "backup", "export", exportDir, "--data", dir)
	requirePrivate(t, "backup export", exportDir)

	dir2 := filepath.Join(top, "rebuilt")
	tm(t, bin, "restore", "server", "--from", repoDir, "--data", dir2)
	if n := requirePrivate(t, "restore server", dir2); n < 5 {
		t.Fatalf("restore server left only %d entries in %s", n, dir2)
	}
	requirePrivate(t, "repository after restore server", repoDir)
	if _, err := os.Stat(filepath.Join(dir2, configFile)); err != nil {
		t.Fatal(err)
	}
}
