package engine

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/engine/event"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func TestDomains(t *testing.T) {
	e, _ := newEngine(t)
	wantErr(t, e.CreateDomain(ctx, "Example.ORG"), ErrExists)
	wantErr(t, e.CreateDomain(ctx, "bad domain"), ErrInvalid)
	must(t, e.CreateDomain(ctx, "b.example"))
	ds, err := e.ListDomains(ctx)
	must(t, err)
	if len(ds) != 2 || ds[0].Name != "b.example" || ds[1].Name != "example.org" {
		t.Fatalf("domains %+v", ds)
	}
	wantErr(t, e.DeleteDomain(ctx, "example.org"), ErrFolderNotEmpty)
	wantErr(t, e.DeleteDomain(ctx, "nope.example"), ErrNotFound)
	must(t, e.ModifyDomain(ctx, "b.example", map[string]string{"k": "v"}))
	d, err := e.GetDomain(ctx, "b.example")
	if err != nil || d.Attrs["k"] != "v" {
		t.Fatalf("domain %+v %v", d, err)
	}
	must(t, e.DeleteDomain(ctx, "b.example"))
	_, err = e.GetDomain(ctx, "b.example")
	wantErr(t, err, ErrNotFound)
}

func TestCOS(t *testing.T) {
	e, _ := newEngine(t)
	must(t, e.CreateCOS(ctx, event.COS{Name: "gold", DefaultQuota: 1000, Backup: true}))
	wantErr(t, e.CreateCOS(ctx, event.COS{Name: "gold"}), ErrExists)
	wantErr(t, e.ModifyCOS(ctx, event.COS{Name: "silver"}), ErrNotFound)
	must(t, e.ModifyCOS(ctx, event.COS{Name: "gold", DefaultQuota: 2000}))
	c, err := e.GetCOS(ctx, "gold")
	if err != nil || c.DefaultQuota != 2000 || c.Backup {
		t.Fatalf("cos %+v %v", c, err)
	}
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "g@example.org", COS: "gold"})
	must(t, err)
	if a.Quota != 2000 {
		t.Fatalf("quota from cos: %d", a.Quota)
	}
	_, err = e.CreateAccount(ctx, AccountSpec{Address: "h@example.org", COS: "bronze"})
	wantErr(t, err, ErrNotFound)
	wantErr(t, e.DeleteCOS(ctx, "gold"), ErrFolderNotEmpty)
	must(t, e.DeleteAccount(ctx, a.ID))
	must(t, e.DeleteCOS(ctx, "gold"))
	cs, err := e.ListCOS(ctx)
	if err != nil || len(cs) != 0 {
		t.Fatalf("cos list %+v %v", cs, err)
	}
	wantErr(t, e.DeleteCOS(ctx, "gold"), ErrNotFound)
}

func TestAccounts(t *testing.T) {
	e, a := newEngine(t)
	if a.ID != 1 || a.Status != event.StatusActive || a.Domain != "example.org" {
		t.Fatalf("account %+v", a)
	}
	_, err := e.CreateAccount(ctx, AccountSpec{Address: "ALICE@example.org"})
	wantErr(t, err, ErrExists)
	_, err = e.CreateAccount(ctx, AccountSpec{Address: "bob@unknown.example"})
	wantErr(t, err, ErrNotFound)
	_, err = e.CreateAccount(ctx, AccountSpec{Address: "no-at-sign"})
	wantErr(t, err, ErrInvalid)
	_, err = e.CreateAccount(ctx, AccountSpec{Address: "x@example.org", Status: "weird"})
	wantErr(t, err, ErrInvalid)

	fs, err := e.ListFolders(ctx, a.ID)
	must(t, err)
	var paths []string
	for _, f := range fs {
		paths = append(paths, f.Path)
	}
	if len(paths) != 5 || paths[0] != "Drafts" || paths[1] != "INBOX" {
		t.Fatalf("default folders %v", paths)
	}

	// Authentication and passwords.
	if _, err := e.Authenticate(ctx, "Alice@Example.org", "secret"); err != nil {
		t.Fatal(err)
	}
	_, err = e.Authenticate(ctx, "alice@example.org", "wrong")
	wantErr(t, err, ErrAuthFailed)
	_, err = e.Authenticate(ctx, "nobody@example.org", "secret")
	wantErr(t, err, ErrAuthFailed)
	must(t, e.SetPassword(ctx, a.ID, "new"))
	_, err = e.Authenticate(ctx, "alice@example.org", "new")
	must(t, err)
	wantErr(t, e.SetPassword(ctx, 99, "x"), ErrNotFound)

	// Aliases.
	must(t, e.AddAlias(ctx, a.ID, "Al@example.org"))
	wantErr(t, e.AddAlias(ctx, a.ID, "al@example.org"), ErrExists)
	wantErr(t, e.AddAlias(ctx, a.ID, "al@nowhere.example"), ErrNotFound)
	got, err := e.LookupAccount(ctx, "AL@example.org")
	if err != nil || got.ID != a.ID || len(got.Aliases) != 1 {
		t.Fatalf("lookup by alias %+v %v", got, err)
	}
	if _, err := e.Authenticate(ctx, "al@example.org", "new"); err != nil {
		t.Fatal(err)
	}
	must(t, e.RemoveAlias(ctx, a.ID, "al@example.org"))
	wantErr(t, e.RemoveAlias(ctx, a.ID, "al@example.org"), ErrNotFound)
	_, err = e.LookupAccount(ctx, "al@example.org")
	wantErr(t, err, ErrNotFound)

	// Modify: status, quota, attrs.
	locked := event.StatusLocked
	q := int64(12345)
	m, err := e.ModifyAccount(ctx, a.ID, AccountChange{Status: &locked, Quota: &q, Attrs: map[string]string{"x": "1"}})
	if err != nil || m.Status != locked || m.Quota != q || m.Attrs["x"] != "1" {
		t.Fatalf("modify %+v %v", m, err)
	}
	_, err = e.Authenticate(ctx, "alice@example.org", "new")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != locked || !errors.Is(err, ErrAccountInactive) {
		t.Fatalf("auth of locked account: %v", err)
	}
	bad := event.AccountStatus("gone")
	_, err = e.ModifyAccount(ctx, a.ID, AccountChange{Status: &bad})
	wantErr(t, err, ErrInvalid)
	_, err = e.ModifyAccount(ctx, 42, AccountChange{})
	wantErr(t, err, ErrNotFound)

	// Rename.
	b, err := e.CreateAccount(ctx, AccountSpec{Address: "bob@example.org"})
	must(t, err)
	wantErr(t, e.RenameAccount(ctx, a.ID, "bob@example.org"), ErrExists)
	must(t, e.RenameAccount(ctx, a.ID, "alice2@example.org"))
	got, err = e.LookupAccount(ctx, "alice2@example.org")
	if err != nil || got.ID != a.ID {
		t.Fatalf("after rename %+v %v", got, err)
	}
	_, err = e.LookupAccount(ctx, "alice@example.org")
	wantErr(t, err, ErrNotFound)

	list, err := e.ListAccounts(ctx, "example.org")
	if err != nil || len(list) != 2 {
		t.Fatalf("list %+v %v", list, err)
	}
	all, err := e.ListAccounts(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("list all %+v %v", all, err)
	}

	// Delete; ids are never reused.
	must(t, e.DeleteAccount(ctx, b.ID))
	wantErr(t, e.DeleteAccount(ctx, b.ID), ErrNotFound)
	c, err := e.CreateAccount(ctx, AccountSpec{Address: "bob@example.org"})
	if err != nil || c.ID == b.ID {
		t.Fatalf("recreated %+v %v", c, err)
	}
	must(t, e.Check(ctx))
}

func TestLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, vfs.Default, dir)
	defer e.Close()
	_, err := Open(dir, testOptions(vfs.Default))
	wantErr(t, err, ErrLocked)
}

func TestClosed(t *testing.T) {
	e := openTest(t, vfs.NewMem(), "d")
	must(t, e.Close())
	wantErr(t, e.CreateDomain(ctx, "x.example"), ErrClosed)
	wantErr(t, e.Close(), ErrClosed)
}
