package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestFolderLimits: CreateFolder and RenameFolder beyond MaxFolderDepth
// levels (a rename counts the levels of the folders it carries along) or
// beyond MaxFolders fail with ErrLimit and change nothing; folders already
// there survive a reopen with tighter limits.
func TestFolderLimits(t *testing.T) {
	fs := vfs.NewMem()
	o := testOptions(fs)
	o.MaxFolderDepth, o.MaxFolders = 3, 20
	e, err := Open("data", o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.ListFolders(ctx, a.ID)
	for _, p := range []string{"a", "a/b", "a/b/c"} {
		if _, err := e.CreateFolder(ctx, a.ID, p, ""); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	if _, err := e.CreateFolder(ctx, a.ID, "a/b/c/d", ""); !errors.Is(err, ErrLimit) {
		t.Fatalf("create of 4 levels: %v, want ErrLimit", err)
	}
	_, err = e.CreateFolder(ctx, a.ID, "x", "")
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := e.FolderByPath(ctx, a.ID, "a")
	// a carries a/b/c: under x it would reach x/a/b/c, 4 levels.
	if err := e.RenameFolder(ctx, a.ID, a1.ID, "x/a"); !errors.Is(err, ErrLimit) {
		t.Fatalf("rename of a subtree to 4 levels: %v, want ErrLimit", err)
	}
	ab, _ := e.FolderByPath(ctx, a.ID, "a/b")
	if err := e.RenameFolder(ctx, a.ID, ab.ID, "x/b"); err != nil {
		t.Fatalf("rename within the depth: %v", err)
	}
	// The count: INBOX and the default folders, a, x, x/b, x/b/c; up to 20.
	n := len(before) + 4
	var lastErr error
	for i := 0; n < 21; i++ {
		_, lastErr = e.CreateFolder(ctx, a.ID, fmt.Sprintf("f%d", i), "")
		if lastErr != nil {
			break
		}
		n++
	}
	if !errors.Is(lastErr, ErrLimit) || n != 20 {
		t.Fatalf("count: %d folders, last error %v; want 20 and ErrLimit", n, lastErr)
	}
	got, _ := e.ListFolders(ctx, a.ID)
	if len(got) != 20 {
		t.Fatalf("%d folders after the refusals, want 20", len(got))
	}
	e.Close()

	// Tighter limits on reopen keep what is there.
	o.MaxFolderDepth, o.MaxFolders = 1, 2
	e, err = Open("data", o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got, _ = e.ListFolders(ctx, a.ID)
	if len(got) != 20 {
		t.Fatalf("%d folders after reopen, want 20", len(got))
	}
	if _, err := e.FolderByPath(ctx, a.ID, "x/b/c"); err != nil {
		t.Fatalf("deep folder after reopen: %v", err)
	}
}
