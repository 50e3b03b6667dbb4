package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/dedup"
)

// TestHSMCheckFixCLI: on a live server with the backup on and mail on a local
// primary and copies on two local secondaries, hsm check finds injected missing, corrupt and orphan
// blobs and names whole copies on other volumes; hsm check --fix records
// those copies, copies a blob no volume holds back from the backup,
// deletes the orphan and nothing else; a check after it is clean and IMAP
// FETCH gives every message byte for byte.
func TestHSMCheckFixCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	s := startServer(t, bin, dir)
	defer func() { s.stop(t) }()
	tm(t, bin, "volume", "create", "fast2", "--kind", "primary", "--layout", "localvol", "--data", dir)
	tm(t, bin, "volume", "create", "cold", "--kind", "secondary", "--layout", "localvol", "--data", dir)
	tm(t, bin, "volume", "create", "cold2", "--kind", "secondary", "--layout", "localvol", "--data", dir)
	tm(t, bin, "volume", "set-current", "fast2", "--data", dir)
	var acked sync.Map
	deliverN(t, s.lmtp, "chk", 10, &acked)
	stored := mailbox(t, s.imap)
	waitShipped(t, bin, dir, 10)

	fastDir, coldDir, cold2Dir := filepath.Join(dir, "volumes", "fast2"), filepath.Join(dir, "volumes", "cold"), filepath.Join(dir, "volumes", "cold2")
	var files []string
	for deadline := time.Now().Add(20 * time.Second); len(files) < 10 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		files = files[:0]
		filepath.WalkDir(filepath.Join(fastDir, "blobs"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
	}
	sort.Strings(files)
	if len(files) != 10 {
		t.Fatalf("%d blob files on fast2", len(files))
	}
	on := func(vol, p string) string { return filepath.Join(vol, strings.TrimPrefix(p, fastDir)) }
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		ok(err)
		ok(os.MkdirAll(filepath.Dir(to), 0o700))
		ok(os.WriteFile(to, b, 0o600))
	}
	old := time.Now().Add(-2 * time.Hour)
	// 0: a whole copy on cold2, missing on fast2.
	copyFile(files[0], on(cold2Dir, files[0]))
	ok(os.Remove(files[0]))
	// 1: a whole copy on cold, corrupt on fast2.
	copyFile(files[1], on(coldDir, files[1]))
	ok(os.WriteFile(files[1], []byte("\x00torn"), 0o600))
	// 2: missing on fast2, nowhere else: the backup has it.
	ok(os.Remove(files[2]))
	ok(os.Chtimes(on(cold2Dir, files[0]), old, old))
	ok(os.Chtimes(on(coldDir, files[1]), old, old))
	// An orphan on cold2, two hours old.
	stray := dedup.Sum([]byte("nobody references this"))
	orphan := filepath.Join(cold2Dir, filepath.FromSlash(dedup.BlobName(stray)))
	ok(os.MkdirAll(filepath.Dir(orphan), 0o700))
	ok(os.WriteFile(orphan, append([]byte{dedup.CodecRaw}, "nobody references this"...), 0o600))
	ok(os.Chtimes(orphan, old, old))

	out, code := tmRun(t, bin, "hsm", "check", "--sync", "--data", dir)
	// The good copies on cold and cold2 are unreferenced objects there: orphans too,
	// which --fix will not delete while the referenced copy is bad.
	if code == 0 || !strings.Contains(out, "2 missing, 1 corrupt, 3 orphan(s), 0 fixed, 1 unrecoverable") ||
		!strings.Contains(out, "a whole copy is on cold2: --fix records it") || !strings.Contains(out, "a whole copy is on cold: --fix records it") ||
		!strings.Contains(out, "referenced by: alice@example.org ") || !strings.Contains(out, "hsm check --fix` copies such a blob back from the backup") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	t.Logf("hsm check:\n%s", out)
	out = tm(t, bin, "hsm", "check", "--fix", "--sync", "--data", dir)
	t.Logf("hsm check --fix:\n%s", out)
	if !strings.Contains(out, "2 missing, 1 corrupt, 1 orphan(s), 4 fixed, 0 unrecoverable") ||
		!strings.Contains(out, "fixed: recorded on cold2") || !strings.Contains(out, "fixed: recorded on cold)") ||
		!strings.Contains(out, "fixed: copied back from the backup to fast2") ||
		!strings.Contains(out, "fixed: deleted") {
		t.Fatalf("check --fix:\n%s", out)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan still there: %v", err)
	}
	if _, err := os.Stat(files[2]); err != nil {
		t.Fatalf("blob not copied back: %v", err)
	}
	if out := tm(t, bin, "hsm", "check", "--sync", "--data", dir); !strings.Contains(out, "0 missing, 0 corrupt, 0 orphan(s)") {
		t.Fatalf("check after the fix:\n%s", out)
	}
	checkFetched(t, s.imap, stored)
	if st := volumeStats(t, bin, dir); st["fast2"].Blobs != 8 || st["cold"].Blobs != 1 || st["cold2"].Blobs != 1 {
		t.Fatalf("stats after the fix: %+v", st)
	}
	s.stop(t)
	s = startServer(t, bin, dir)
	checkFetched(t, s.imap, stored)
}
