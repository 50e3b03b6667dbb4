package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// corpusDir returns the shared corpus directory: $TIDEMARK_CORPUS, else
// ../../shared/corpus relative to this package (the checkout's sibling).
func corpusDir(t testing.TB, sub string) string {
	base := os.Getenv("TIDEMARK_CORPUS")
	if base == "" {
		base = filepath.Join("..", "..", "shared", "corpus")
	}
	dir := filepath.Join(base, sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus %s not present (set TIDEMARK_CORPUS): %v", dir, err)
	}
	return dir
}

// Every malformed message is stored and read back byte-identical, whole
// and by range, through both blob paths.
func TestMalformedCorpus(t *testing.T) {
	dir := corpusDir(t, "malformed")
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	must(t, err)
	if len(names) == 0 {
		t.Skipf("no .eml files in %s", dir)
	}
	o := testOptions(vfs.NewMem())
	o.InlineBlobMax = 2048 // both paths: small ones inline, the rest blob-first
	e, err := Open("data", o)
	must(t, err)
	defer e.Close()
	must(t, e.CreateDomain(ctx, "m.example"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "m@m.example"})
	must(t, err)
	stored := 0
	for _, name := range names {
		body, err := os.ReadFile(name)
		must(t, err)
		res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body})
		if err != nil || res[0].Err != nil {
			t.Fatalf("%s: deliver: %v %v", filepath.Base(name), err, res)
		}
		it := res[0].Item
		got, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
		must(t, err)
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: read back %d bytes differ from %d stored", filepath.Base(name), len(got), len(body))
		}
		if len(body) > 10 {
			part, err := e.ReadBlobRange(ctx, a.ID, it.ID, 3, 7)
			must(t, err)
			if !bytes.Equal(part, body[3:10]) {
				t.Fatalf("%s: range read differs", filepath.Base(name))
			}
		}
		stored++
	}
	// Searching the bodies must not choke on any of them.
	inbox := inboxOf(t, e, a.ID)
	if _, err := e.Search(ctx, a.ID, inbox.ID, &SearchCriteria{Header: []HeaderMatch{{"Subject", "x"}}, Text: []string{"zzz"}}); err != nil {
		t.Fatal(err)
	}
	must(t, e.Check(ctx))
	t.Logf("%d malformed messages stored and read back (%s)", stored, strings.TrimSpace(dir))
}
