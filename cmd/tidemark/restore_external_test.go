package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/restore"
)

// TestExportAndExternalCLI exports a domain with the CLI, rebuilds a
// server from the export and imports it twice into another server.
func TestExportAndExternalCLI(t *testing.T) {
	base := t.TempDir()
	src, dst, exp := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "export")
	mustRun(t, "init", "--data", src)
	mustRun(t, "domain", "create", "example.org", "--data", src)
	mustRun(t, "domain", "create", "other.org", "--data", src)
	mustRun(t, "account", "create", "alice@example.org", "--password", "alicepw", "--data", src)
	mustRun(t, "account", "create", "bob@other.org", "--password", "bobpw", "--data", src)
	eng, _, err := openEngineForAdmin(src)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := eng.LookupAccount(context.Background(), "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three"} {
		res, err := eng.Deliver(context.Background(), engine.Delivery{Recipients: []uint64{alice.ID}, Body: []byte("Subject: " + s + "\r\n\r\n" + s + "\r\n")})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "backup", "scan", "--data", src)
	if err := os.MkdirAll(exp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(exp, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "backup", "export", exp, "--data", src); !errors.Is(err, restore.ErrNotEmpty) {
		t.Fatalf("export into a non-empty directory: %v", err)
	}
	os.Remove(filepath.Join(exp, "keep"))
	out := mustRun(t, "backup", "export", exp, "--domains", "example.org", "--data", src)
	if !strings.Contains(out, "accounts: 1") || !strings.Contains(out, "items: 3") {
		t.Fatalf("export output:\n%s", out)
	}
	out = mustRun(t, "restore", "server", "--from", exp, "--data", filepath.Join(base, "rebuilt"))
	if !strings.Contains(out, "state digest") {
		t.Fatalf("restore server output:\n%s", out)
	}
	mustRun(t, "init", "--data", dst)
	out = mustRun(t, "restore", "external", exp, "--data", dst)
	if !strings.Contains(out, "external: 3 restored, 0 skipped, 0 unrestored") {
		t.Fatalf("first external restore:\n%s", out)
	}
	out = mustRun(t, "restore", "external", exp, "--data", dst)
	if !strings.Contains(out, "external: 0 restored, 3 skipped, 0 unrestored") {
		t.Fatalf("second external restore:\n%s", out)
	}
	for _, dir := range []string{filepath.Join(base, "rebuilt"), dst} {
		e, _, err := openEngineForAdmin(dir)
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.Authenticate(context.Background(), "alice@example.org", "alicepw")
		if err == nil {
			var items []engine.Item
			inbox, ferr := e.FolderByPath(context.Background(), a.ID, "INBOX")
			if ferr == nil {
				items, ferr = e.ListItems(context.Background(), a.ID, inbox.ID)
			}
			if ferr != nil || len(items) != 3 {
				t.Errorf("%s: %d items, %v", dir, len(items), ferr)
			}
		}
		if _, lerr := e.LookupAccount(context.Background(), "bob@other.org"); !errors.Is(lerr, engine.ErrNotFound) {
			t.Errorf("%s holds bob@other.org: %v", dir, lerr)
		}
		e.Close()
		if err != nil {
			t.Fatalf("%s: login: %v", dir, err)
		}
	}
}
