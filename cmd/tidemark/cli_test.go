package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/engine"
)

// run executes the CLI with args and returns its standard output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("tidemark %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestInitRefusesExisting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out := mustRun(t, "init", "--data", dir)
	if !strings.Contains(out, "initialised") {
		t.Fatalf("init output: %q", out)
	}
	for _, f := range []string{configFile, "tls/cert.pem", "tls/key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("init did not create %s: %v", f, err)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "tls/key.pem")); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode().Perm())
	}
	if _, err := run(t, "init", "--data", dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second init: %v", err)
	}
	if _, _, err := loadConfig(dir); err != nil {
		t.Fatalf("generated config does not load: %v", err)
	}
}

func TestConfigRejectsUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, configFile), []byte("[imap]\nlisten_typo = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadConfig(dir); err == nil || !strings.Contains(err.Error(), "imap.listen_typo") {
		t.Fatalf("err = %v", err)
	}
}

// TestConfigCatalogCache: init spells out the backup catalog's cache, a
// file without the key takes the default, and a negative size is refused.
func TestConfigCatalogCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "init", "--data", dir)
	raw, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), fmt.Sprintf("catalog_cache_bytes = %d", catalog.DefaultCacheSize)) {
		t.Fatalf("init wrote no catalog_cache_bytes:\n%s", raw)
	}
	other := t.TempDir()
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(other, configFile), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("[backup]\nenabled = true\n")
	cfg, _, err := loadConfig(other)
	if err != nil || cfg.Backup.CatalogCacheBytes != catalog.DefaultCacheSize {
		t.Fatalf("without the key: %d, %v", cfg.Backup.CatalogCacheBytes, err)
	}
	write("[backup]\ncatalog_cache_bytes = -1\n")
	if _, _, err := loadConfig(other); err == nil || !strings.Contains(err.Error(), "backup.catalog_cache_bytes") {
		t.Fatalf("negative cache: %v", err)
	}
}

// provision runs a provisioning session and checks its results; it is the
// same whether the commands open the directory or talk to a server.
func provision(t *testing.T, dir string) {
	mustRun(t, "domain", "create", "example.org", "--data", dir)
	mustRun(t, "domain", "modify", "example.org", "--attr", "note=main site", "--data", dir)
	if out := mustRun(t, "domain", "show", "example.org", "--data", dir); !strings.Contains(out, "note=main site") {
		t.Fatalf("domain show:\n%s", out)
	}
	if _, err := run(t, "domain", "modify", "example.org", "--attr", "novalue", "--data", dir); exitCode(err) != exitUsage {
		t.Fatalf("bad --attr: %v", err)
	}
	mustRun(t, "cos", "create", "staff", "--quota", "2G", "--data", dir)
	mustRun(t, "cos", "create", "interns", "--backup-view=false", "--data", dir)
	if out := mustRun(t, "cos", "show", "interns", "--data", dir); !regexp.MustCompile(`interns\s+unlimited\s+true\s+false`).MatchString(out) {
		t.Fatalf("cos show of a class without backup view:\n%s", out)
	}
	mustRun(t, "cos", "modify", "interns", "--backup-view=true", "--data", dir)
	if out := mustRun(t, "cos", "show", "interns", "--data", dir); !regexp.MustCompile(`interns\s+unlimited\s+true\s+true`).MatchString(out) {
		t.Fatalf("cos show after --backup-view=true:\n%s", out)
	}
	out := mustRun(t, "account", "create", "alice@example.org", "--password", "s3cret", "--cos", "staff", "--data", dir)
	if !strings.Contains(out, "alice@example.org") || !strings.Contains(out, "2.0 GiB") {
		t.Fatalf("create output:\n%s", out)
	}
	mustRun(t, "account", "alias", "add", "alice@example.org", "al@example.org", "--data", dir)
	var got []engine.Account
	js := mustRun(t, "account", "show", "AL@example.org", "--json", "--data", dir)
	if err := json.Unmarshal([]byte(js), &got); err != nil || len(got) != 1 {
		t.Fatalf("show --json: %v\n%s", err, js)
	}
	if got[0].Address != "alice@example.org" || len(got[0].Aliases) != 1 {
		t.Fatalf("show: %+v", got[0])
	}
	mustRun(t, "account", "modify", "alice@example.org", "--status", "maintenance", "--data", dir)
	out = mustRun(t, "account", "list", "--data", dir)
	if !strings.Contains(out, "maintenance") {
		t.Fatalf("list:\n%s", out)
	}
	if _, err := run(t, "account", "create", "alice@example.org", "--data", dir); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := run(t, "account", "show", "nobody@example.org", "--data", dir); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("show unknown: %v", err)
	}
	if _, err := run(t, "account", "delete", "alice@example.org", "--data", dir); exitCode(err) != exitUsage {
		t.Fatalf("delete without --yes: %v", err)
	}
	mustRun(t, "account", "delete", "alice@example.org", "--yes", "--data", dir)
	if _, err := run(t, "account", "show", "alice@example.org", "--data", dir); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("show deleted: %v", err)
	}
}

func TestProvisioningDirect(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "init", "--data", dir)
	provision(t, dir)
}

// serveAdminForTest opens the data directory's engine and serves its
// admin socket until the test ends, as a running server does.
func serveAdminForTest(t *testing.T, dir string) {
	t.Helper()
	cfg, _, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := openEngine(dir, cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	stop, err := serveAdmin(context.Background(), dir, &adminServer{eng: eng, cfg: cfg}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

func TestProvisioningThroughAdminSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "init", "--data", dir)
	serveAdminForTest(t, dir)
	st, err := os.Stat(filepath.Join(dir, adminSocket))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v", st.Mode(), err)
	}
	// The engine holds the directory lock: these commands must go through
	// the socket, and errors must keep their kind across it.
	provision(t, dir)
}
