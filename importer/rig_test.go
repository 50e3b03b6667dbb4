package importer

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// rig is an engine on disk with one account to import into.
type rig struct {
	dir  string
	eng  *engine.Engine
	acct uint64
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.Open(filepath.Join(dir, "data"), &engine.Options{Logger: quiet, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	ctx := context.Background()
	if err := eng.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := eng.CreateAccount(ctx, engine.AccountSpec{Address: "alice@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{dir: dir, eng: eng, acct: a.ID}
}

func (r *rig) options() Options {
	return Options{Account: r.acct, AccountName: "alice@example.org", StateDir: filepath.Join(r.dir, "data", "import")}
}

// stored is one message as tidemark holds it.
type stored struct {
	body  string
	flags []string
	date  time.Time
	uid   uint32
}

// folder returns a folder's messages in UID order.
func (r *rig) folder(t *testing.T, path string) []stored {
	t.Helper()
	ctx := context.Background()
	f, err := r.eng.FolderByPath(ctx, r.acct, path)
	if err != nil {
		t.Fatalf("folder %s: %v", path, err)
	}
	items, err := r.eng.ListItems(ctx, r.acct, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]stored, 0, len(items))
	for _, it := range items {
		rc, _, err := r.eng.OpenBlob(ctx, r.acct, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, stored{body: string(b), flags: it.Flags, date: it.InternalDate, uid: it.UID})
	}
	return out
}

func (r *rig) paths(t *testing.T) []string {
	t.Helper()
	fs, err := r.eng.ListFolders(context.Background(), r.acct)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	sort.Strings(out)
	return out
}

func flagString(f []string) string {
	c := append([]string(nil), f...)
	sort.Strings(c)
	return strings.Join(c, " ")
}

func mustRun(t *testing.T, r *rig, src Source) *Report {
	t.Helper()
	rep, err := Run(context.Background(), r.eng, src, r.options())
	if err != nil {
		t.Fatalf("import: %v\n%s", err, rep)
	}
	return rep
}

func writeFileTime(t *testing.T, path string, b []byte, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
