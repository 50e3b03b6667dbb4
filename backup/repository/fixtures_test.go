package repository_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/redolog"
)

// The repositories under testdata/ are frozen: written by earlier builds
// (format 1: loose blobs and a zstd dictionary; format 2: packs under the
// magic "TMPK" they had before backup packs got one of their own), each
// with segments, a SmartScan object and a catalog snapshot. -update
// rewrites them from fixtureRepo; do that only on purpose, since their
// point is to prove that an existing repository still opens.
var update = flag.Bool("update", false, "regenerate backup/repository/testdata fixtures")

// fixtureExpect is what a frozen repository holds, written beside it.
type fixtureExpect struct {
	Format  int      `json:"format"`
	Records int      `json:"records"`
	Scans   int      `json:"scan_records"`
	LastLSN uint64   `json:"last_lsn"`
	Blobs   []string `json:"blobs"` // hex digest:size
	Catalog string   `json:"catalog_digest"`
}

// fixtureRepo runs a small server's life against a repository of format f
// and returns its directory and what it holds.
func fixtureRepo(t *testing.T, format int) (string, fixtureExpect) {
	defer backuptest.SetNewFormat(format)()
	defer backuptest.SetDictSample(3)()
	h := backuptest.NewHarness(t, nil)
	ctx := context.Background()
	e := h.Eng
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	exp := fixtureExpect{Format: format}
	blob := func(b []byte) {
		exp.Blobs = append(exp.Blobs, fmt.Sprintf("%s:%d", dedup.Sum(b), len(b)))
	}
	must(e.CreateDomain(ctx, "example.org"))
	must(e.CreateCOS(ctx, event.COS{Name: "interns", Backup: false}))
	alice, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "alice@example.org", Password: "pw"})
	must(err)
	dave, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "dave@example.org", Password: "pw", COS: "interns"})
	must(err)
	inbox, err := e.FolderByPath(ctx, alice.ID, "INBOX")
	must(err)
	var ids []uint64
	for i := 0; i < 8; i++ {
		body := backuptest.Message(i, 300+i*900)
		res, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{alice.ID, dave.ID}, Body: body})
		must(err)
		ids = append(ids, res[0].Item.ID)
		blob(body)
		h.Clk.Add(time.Second)
	}
	_, err = e.Append(ctx, alice.ID, inbox.ID, nil, []string{`\Seen`}, h.Clk.Now())
	must(err)
	blob(nil)
	_, err = e.StoreFlags(ctx, alice.ID, inbox.ID, ids[:2], engine.FlagsAdd, []string{`\Flagged`}, 0)
	must(err)
	arch, err := e.CreateFolder(ctx, alice.ID, "Archive", "")
	must(err)
	_, err = e.Move(ctx, alice.ID, inbox.ID, ids[2:4], arch.ID)
	must(err)
	h.WaitShipped()
	if _, err := h.Scanner.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	// dave's class turns backup on: SmartScan brings his mail in.
	must(e.ModifyCOS(ctx, event.COS{Name: "interns", Backup: true}))
	h.Clk.Add(time.Minute)
	backuptest.WaitView(t, h, dave.ID)
	_, err = e.StoreFlags(ctx, alice.ID, inbox.ID, ids[4:5], engine.FlagsAdd, []string{`\Deleted`}, 0)
	must(err)
	_, err = e.Expunge(ctx, alice.ID, inbox.ID, nil)
	must(err)
	body := backuptest.Message(99, 20000)
	_, err = e.Append(ctx, alice.ID, arch.ID, body, nil, h.Clk.Now())
	must(err)
	blob(body)
	h.WaitShipped()
	h.Stop()
	exp.Records, exp.Scans, exp.LastLSN = countRecords(t, h.Repo)
	exp.Catalog = rebuiltDigest(t, h.Repo)
	return filepath.Join(h.Dir, "repo"), exp
}

func countRecords(t *testing.T, r *repository.Repository) (recs, scans int, last uint64) {
	t.Helper()
	err := r.Records(context.Background(), 1, 0, func(rec redolog.Record) error {
		if repository.IsScanType(rec.Type) {
			scans++
		} else {
			recs++
		}
		last = max(last, rec.LSN)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs, scans, last
}

func rebuiltDigest(t *testing.T, r *repository.Repository) string {
	t.Helper()
	c, err := catalog.Rebuild(context.Background(), r, "/cat", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := c.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(d[:])
}

// TestRepositoryFixtures opens each frozen repository and reads every
// record and blob: the catalog rebuilt from it is the one it was written
// with, and verify --read-data finds nothing wrong.
func TestRepositoryFixtures(t *testing.T) {
	for _, format := range []int{1, 2} {
		t.Run(fmt.Sprintf("format%d", format), func(t *testing.T) {
			name := filepath.Join("testdata", fmt.Sprintf("repo-format%d", format))
			if *update {
				dir, exp := fixtureRepo(t, format)
				if err := os.RemoveAll(name); err != nil {
					t.Fatal(err)
				}
				copyDir(t, dir, name)
				b, _ := json.MarshalIndent(exp, "", "  ")
				if err := os.WriteFile(name+".json", append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			checkRepositoryFixture(t, name)
		})
	}
}

func checkRepositoryFixture(t *testing.T, name string) {
	ctx := context.Background()
	var exp fixtureExpect
	b, err := os.ReadFile(name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyDir(t, name, dir)
	vol, err := localvol.New(vfs.Default, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repository.Open(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Manifest().Format; f != exp.Format {
		t.Fatalf("format %d, want %d", f, exp.Format)
	}
	recs, scans, last := countRecords(t, r)
	if recs != exp.Records || scans != exp.Scans || last != exp.LastLSN || scans == 0 {
		t.Fatalf("records %d, scan records %d, last lsn %d; want %d, %d, %d", recs, scans, last, exp.Records, exp.Scans, exp.LastLSN)
	}
	for _, bs := range exp.Blobs {
		var hexd string
		var size int
		if _, err := fmt.Sscanf(bs, "%64s:%d", &hexd, &size); err != nil {
			t.Fatalf("%s: %v", bs, err)
		}
		var d dedup.Digest
		if _, err := hex.Decode(d[:], []byte(hexd)); err != nil {
			t.Fatal(err)
		}
		raw, err := r.ReadBlob(ctx, d)
		if err != nil || len(raw) != size {
			t.Fatalf("blob %s: %d bytes, %v; want %d", hexd, len(raw), err, size)
		}
	}
	if got := rebuiltDigest(t, r); got != exp.Catalog {
		t.Fatalf("catalog rebuilt from the fixture has digest %s, want %s", got, exp.Catalog)
	}
	cat, err := catalog.Rebuild(ctx, r, "/cat", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	vr, err := maint.Verify(ctx, r, cat, maint.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify --read-data: %+v %v", vr.Problems, err)
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots: %v %v", snaps, err)
	}
	if cfg, _, err := r.ConfigAt(ctx, snaps[len(snaps)-1].Time); err != nil {
		t.Fatalf("config at the snapshot: %+v %v", cfg, err)
	}
	var objs, packs int
	if err := vol.List(ctx, "", func(o hsm.ObjectInfo) error {
		objs++
		if strings.HasPrefix(o.Name, "packs/") {
			packs++
			b, err := hsm.ReadAll(ctx, vol, o.Name)
			if err != nil || string(b[:4]) != "TMPK" {
				t.Errorf("fixture pack %s: %q %v, want the legacy magic TMPK", o.Name, b[:min(4, len(b))], err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if (packs > 0) != (exp.Format == 2) {
		t.Fatalf("format %d repository holds %d packs", exp.Format, packs)
	}
	t.Logf("%s: %d objects, %d records, %d scan records, %d blobs", name, objs, recs, scans, len(exp.Blobs))
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}
