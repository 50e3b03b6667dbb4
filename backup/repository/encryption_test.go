package repository_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/hsm/cryptvol"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/internal/corrupt"
	"github.com/tidemark/tidemark/redolog"
)

var lightKDF = cryptvol.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// encryptedFixture runs fixtureRepo's server life against an encrypted
// repository and returns its directory.
func encryptedFixture(t *testing.T) (string, fixtureExpect) {
	backuptest.HarnessOpen = &repository.OpenOptions{Password: []byte("pw"), KDF: lightKDF}
	defer func() { backuptest.HarnessOpen = nil }()
	defer backuptest.SetPackSizes(1<<20, 5000)() // the larger messages stay loose blobs
	dir, exp := fixtureRepo(t, 2)
	r, err := openDir(t, dir, backuptest.HarnessOpen)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Claim(context.Background(), repository.Identity{Server: "s1", Created: time.Unix(1e9, 0)},
		repository.ClaimInfo{How: "test", Host: "h", Now: time.Unix(1e9, 0)}, func(repository.Identity) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return dir, exp
}

func openDir(t *testing.T, dir string, o *repository.OpenOptions) (*repository.Repository, error) {
	t.Helper()
	v, err := localvol.New(vfs.Default, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return repository.OpenWith(context.Background(), v, o)
}

// TestEncryptedRepository: the encrypted repository holds the same as a
// plaintext one, verifies clean, and no stored object shows mail.
func TestEncryptedRepository(t *testing.T) {
	dir, exp := encryptedFixture(t)
	r, err := openDir(t, dir, &repository.OpenOptions{Password: []byte("pw"), RequireEncrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Encrypted() || r.Manifest().Format != 3 {
		t.Fatalf("manifest %+v", r.Manifest())
	}
	var st scanner.Status
	if err := scanner.RepositoryStatus(context.Background(), r, nil, &st); err != nil || !strings.Contains(st.Encryption, r.KeyID()) {
		t.Fatalf("status: encryption %q %v", st.Encryption, err)
	}
	recs, scans, last := countRecords(t, r)
	if recs != exp.Records || scans != exp.Scans || last != exp.LastLSN || rebuiltDigest(t, r) != exp.Catalog {
		t.Fatalf("read back %d/%d/%d records, wrote %d/%d/%d", recs, scans, last, exp.Records, exp.Scans, exp.LastLSN)
	}
	rep, err := maint.Verify(context.Background(), r, nil, maint.VerifyOptions{ReadData: true})
	if err != nil || !rep.OK() || rep.Segments == 0 || rep.Scans == 0 || rep.Snapshots == 0 || rep.Packs == 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	kinds := map[string]bool{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		kinds[strings.SplitN(rel, "/", 2)[0]] = true
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("example.org")) && rel != "tidemark-backup.json" {
			t.Errorf("%s shows plaintext", rel)
		}
		return nil
	})
	for _, k := range []string{"log", "scan", "packs", "blobs", "catalog", "keys", "owner.json"} {
		if !kinds[k] {
			t.Errorf("the fixture stored no %s/ object (has %v)", k, kinds)
		}
	}

	for _, c := range []struct {
		what string
		o    *repository.OpenOptions
		want error
	}{
		{"no password", nil, repository.ErrLocked},
		{"wrong password", &repository.OpenOptions{Password: []byte("pW")}, repository.ErrWrongPassword},
	} {
		if _, err := openDir(t, dir, c.o); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, err, c.want)
		}
	}

	// Rotation: a new password opens it, the old one no longer does, and
	// the last key stays.
	id, err := r.AddKey(context.Background(), []byte("new pw"), lightKDF, time.Unix(2e9, 0), "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveKey(context.Background(), r.KeyID()); err != nil {
		t.Fatal(err)
	}
	if _, err := openDir(t, dir, &repository.OpenOptions{Password: []byte("pw")}); !errors.Is(err, repository.ErrWrongPassword) {
		t.Fatalf("removed password: %v", err)
	}
	r2, err := openDir(t, dir, &repository.OpenOptions{Password: []byte("new pw")})
	if err != nil || r2.KeyID() != id {
		t.Fatalf("rotated password: %v", err)
	}
	if err := r2.RemoveKey(context.Background(), id); !errors.Is(err, cryptvol.ErrLastKey) {
		t.Fatalf("removing the last key: %v", err)
	}
}

// TestEncryptedManifestDowngrade: a manifest edited to say "not
// encrypted" is refused when a password is configured, and otherwise
// yields no record or blob (everything is corrupt).
func TestEncryptedManifestDowngrade(t *testing.T) {
	dir, _ := encryptedFixture(t)
	mpath := filepath.Join(dir, "tidemark-backup.json")
	m, _ := os.ReadFile(mpath)
	var mm map[string]any
	if err := json.Unmarshal(m, &mm); err != nil {
		t.Fatal(err)
	}
	delete(mm, "encryption")
	mm["format"] = 2
	down, _ := json.Marshal(mm)
	if err := os.WriteFile(mpath, down, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openDir(t, dir, &repository.OpenOptions{Password: []byte("pw"), RequireEncrypted: true}); !errors.Is(err, repository.ErrNotEncrypted) {
		t.Fatalf("downgraded manifest with a password configured: %v (%s)", err, down)
	}
	r, err := openDir(t, dir, nil)
	if err != nil {
		t.Fatalf("downgraded manifest, no password: %v (%s)", err, down)
	}
	var st scanner.Status
	if err := scanner.RepositoryStatus(context.Background(), r, nil, &st); err != nil || st.Encryption != "not encrypted" {
		t.Fatalf("status of a repository that says it is unencrypted: %q %v", st.Encryption, err)
	}
	err = r.Records(context.Background(), 1, 0, func(rec redolog.Record) error {
		t.Fatalf("record %d read from ciphertext", rec.LSN)
		return nil
	})
	if !corrupt.Is(err) {
		t.Fatalf("records of a downgraded repository: %v", err)
	}
}

// TestEncryptedTamper flips a byte, truncates, and swaps in another
// object of the same kind, for every object of the repository (segments,
// scans, packs, loose blobs, snapshots, owner): verify --read-data
// reports each as corrupt, plain verify every one whose metadata it reads
// (all but blob and pack contents), and reading the records (what restore
// and a catalog rebuild apply) fails as corruption for records objects.
func TestEncryptedTamper(t *testing.T) {
	dir, _ := encryptedFixture(t)
	ctx := context.Background()
	pw := &repository.OpenOptions{Password: []byte("pw"), RequireEncrypted: true}
	var names []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			if rel != "tidemark-backup.json" && !strings.HasPrefix(rel, "keys/") {
				names = append(names, rel)
			}
		}
		return err
	})
	byKind := map[string][]string{}
	for _, n := range names {
		k := strings.SplitN(n, "/", 2)[0]
		byKind[k] = append(byKind[k], n)
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		kind := strings.SplitN(name, "/", 2)[0]
		forgeries := map[string][]byte{
			"flipped byte": func() []byte { b := bytes.Clone(orig); b[len(b)/2] ^= 1; return b }(),
			"truncated":    orig[:len(orig)-1],
		}
		if len(orig) > 8+64<<10+40 {
			forgeries["cut at a chunk boundary"] = orig[:8+64<<10+40]
		}
		for _, other := range byKind[kind] {
			if other != name {
				o, _ := os.ReadFile(filepath.Join(dir, other))
				forgeries["swapped with "+other] = o
				break
			}
		}
		for what, b := range forgeries {
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := openDir(t, dir, pw)
			if err != nil {
				t.Fatal(err)
			}
			for _, readData := range []bool{false, true} {
				if !readData && (kind == "packs" || kind == "blobs") {
					continue // contents are read only with --read-data
				}
				rep, err := maint.Verify(ctx, r, nil, maint.VerifyOptions{ReadData: readData})
				if err != nil && !corrupt.Is(err) {
					t.Fatalf("%s %s: verify: %v", name, what, err)
				}
				if err == nil && !reports(rep, name) {
					t.Errorf("%s %s: verify (read data %v) found nothing: %+v", name, what, readData, rep.Problems)
				}
			}
			if kind == "log" || kind == "scan" {
				n := 0
				err := r.Records(ctx, 1, 0, func(redolog.Record) error { n++; return nil })
				if !corrupt.Is(err) {
					t.Errorf("%s %s: records read (%d) without a corruption error: %v", name, what, n, err)
				}
			}
		}
		if err := os.WriteFile(p, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func reports(rep maint.VerifyReport, name string) bool {
	for _, p := range rep.Problems {
		if p.Object == name && (p.Kind == maint.ProblemCorrupt || p.Kind == maint.ProblemMissingBlob) {
			return true
		}
	}
	return false
}
