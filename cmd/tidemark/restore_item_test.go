package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// itemsOf returns the items of an account's folder, opening the data
// directory directly (no server may run).
func itemsOf(t *testing.T, dir, addr, folder string) []engine.Item {
	t.Helper()
	ctx := context.Background()
	eng, _, err := openEngineForAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	a, err := eng.LookupAccount(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := eng.FolderByPath(ctx, a.ID, folder)
	if err != nil {
		t.Fatal(err)
	}
	items, err := eng.ListItems(ctx, a.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// backedUpDir makes a data directory with alice@example.org holding the
// messages of subjects in INBOX, and backs it up with a SmartScan.
func backedUpDir(t *testing.T, bin, top string, subjects ...string) (dir string, acct uint64, items []engine.Item) {
	t.Helper()
	ctx := context.Background()
	dir = filepath.Join(top, "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	eng, _, err := openEngineForAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	a, err := eng.LookupAccount(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := eng.FolderByPath(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subjects {
		it, err := eng.Append(ctx, a.ID, inbox.ID, []byte("Subject: "+s+"\r\n\r\nbody of "+s+"\r\n"), nil, time.Unix(1700000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return dir, a.ID, items
}

// TestRestoreItemExpungedFromTrash deletes a message the way a mail client
// does (move to Trash, flag \Deleted, expunge) and restores it with
// "restore item": it must come back into Trash without \Deleted, keeping
// its other flags.
func TestRestoreItemExpungedFromTrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	ctx := context.Background()
	dir, acct, items := backedUpDir(t, bin, t.TempDir(), "keep me")
	eng, _, err := openEngineForAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := eng.FolderByPath(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	trash, err := eng.FolderByPath(ctx, acct, "Trash")
	if err != nil {
		t.Fatal(err)
	}
	id := items[0].ID
	if _, err := eng.StoreFlags(ctx, acct, inbox.ID, []uint64{id}, engine.FlagsAdd, []string{`\Seen`, "$Important"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Move(ctx, acct, inbox.ID, []uint64{id}, trash.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.StoreFlags(ctx, acct, trash.ID, []uint64{id}, engine.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Expunge(ctx, acct, trash.ID, []uint64{id}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	tm(t, bin, "backup", "scan", "--data", dir)

	out := tm(t, bin, "restore", "item", "alice@example.org", fmt.Sprint(id), "--data", dir)
	if !strings.Contains(out, "1 restored, 0 skipped, 0 unrestored") {
		t.Fatalf("restore item:\n%s", out)
	}
	got := itemsOf(t, dir, "alice@example.org", "Trash")
	if len(got) != 1 {
		t.Fatalf("Trash holds %d items after the restore, want 1", len(got))
	}
	flags := got[0].Flags
	if slices.Contains(flags, `\Deleted`) {
		t.Errorf("restored item still carries \\Deleted: %v", flags)
	}
	if !slices.Contains(flags, `\Seen`) || !slices.Contains(flags, "$Important") {
		t.Errorf("restored item lost its other flags: %v", flags)
	}
}

// TestBackupExportUnknownDomain asks for an export of a domain the backup
// has no account of: the command must fail naming the domain and write
// nothing.
func TestBackupExportUnknownDomain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir, _, _ := backedUpDir(t, bin, top, "one")
	tm(t, bin, "backup", "scan", "--data", dir)
	for _, domains := range []string{"nosuch.example", "example.org,nosuch.example"} {
		dest := filepath.Join(top, "export-"+domains)
		stdout, stderr, code := tmExit(t, bin, "backup", "export", dest, "--domains", domains, "--data", dir)
		if code == exitOK || !strings.Contains(stderr, "nosuch.example") {
			t.Errorf("export --domains %s exited %d, want a failure naming nosuch.example\nstdout:\n%s\nstderr:\n%s",
				domains, code, stdout, stderr)
		}
		if names, _ := os.ReadDir(dest); len(names) > 0 {
			t.Errorf("export --domains %s wrote %d entries into %s", domains, len(names), dest)
		}
	}
	out := tm(t, bin, "backup", "export", filepath.Join(top, "export"), "--domains", "EXAMPLE.org", "--data", dir)
	if !strings.Contains(out, "accounts: 1") || !strings.Contains(out, "items: 1") {
		t.Fatalf("export of the known domain:\n%s", out)
	}
}

// TestRestoreWithUnrestoredItemsFails restores an account from a
// repository that lost its blobs: the report lists every item with the
// reason, and the command exits with the "incomplete" code.
func TestRestoreWithUnrestoredItemsFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir, _, items := backedUpDir(t, bin, top, "one", "two")
	tm(t, bin, "backup", "scan", "--data", dir)
	repo := filepath.Join(top, "tidemark-backup")
	for _, sub := range []string{"packs", "blobs"} {
		if err := os.RemoveAll(filepath.Join(repo, sub)); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"restore", "account", "alice@example.org", "--into", "alice2@example.org"},
		{"restore", "item", "alice@example.org", fmt.Sprint(items[0].ID), "--folder", "Again"},
	} {
		stdout, stderr, code := tmExit(t, bin, append(args, "--data", dir)...)
		if code != exitIncomplete || !strings.Contains(stdout, "blob missing from repository") ||
			!strings.Contains(stderr, "not restored") {
			t.Errorf("%s exited %d, want %d with the unrestored items listed\nstdout:\n%s\nstderr:\n%s",
				strings.Join(args, " "), code, exitIncomplete, stdout, stderr)
		}
	}
}
