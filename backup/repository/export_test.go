package repository_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/memvol"
	"github.com/tidemark/tidemark/redolog"
)

// TestExportWriter writes a repository record by record and reads it back
// as any repository: records in LSN order across several segments, blobs
// once each, and a catalog rebuilt from it that knows the account.
func TestExportWriter(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	vol := memvol.New(nil)
	w, err := repository.NewExportWriter(ctx, vol, now)
	if err != nil {
		t.Fatal(err)
	}
	w.SegmentBytes = 600 // several segments
	if _, err := repository.Open(ctx, vol); !errors.Is(err, repository.ErrNotRepository) {
		t.Fatalf("before Finish the destination must not be a repository, got %v", err)
	}
	ts := now.UnixNano()
	acct := event.Account{ID: 7, Address: "a@example.org", Status: event.StatusActive, PasswordHash: "$2a$04$x"}
	appendEv := func(ev event.Event) {
		t.Helper()
		if _, err := w.Append(ctx, uint16(ev.Type()), ts, event.MustEncode(ev)); err != nil {
			t.Fatal(err)
		}
	}
	appendEv(event.DomainCreated{Name: "example.org"})
	appendEv(event.AccountCreated{Account: acct, Folders: []event.FolderCreated{
		{Account: 7, Folder: 1, Name: "INBOX", SpecialUse: `\Inbox`, UIDValidity: 11, Subscribed: true}}})
	bodies := [][]byte{[]byte("Subject: one\r\n\r\nfirst\r\n"), []byte("Subject: two\r\n\r\nsecond\r\n")}
	for i := 0; i < 20; i++ {
		b := bodies[i%2]
		d := dedup.Sum(b)
		if err := w.PutBlob(ctx, d, b); err != nil {
			t.Fatal(err)
		}
		appendEv(event.MessageAdded{Digest: d, Size: int64(len(b)), Reason: event.AddRestored, ItemType: event.ItemMessage,
			Targets: []event.Target{{Account: 7, Folder: 1, Item: uint64(i + 1), UID: uint32(i + 1), InternalDate: ts}}})
	}
	repo, st, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 22 || st.Blobs != 2 || st.Segments < 2 {
		t.Fatalf("stats %+v: want 22 records, 2 blobs, several segments", st)
	}
	if _, err := w.Append(ctx, 1, ts, nil); !errors.Is(err, repository.ErrClosed) {
		t.Fatalf("append after finish: %v", err)
	}
	reopened, err := repository.Open(ctx, vol)
	if err != nil || reopened.ID() != repo.ID() || repo.ID() != w.ID() {
		t.Fatalf("reopen: %v (ids %s %s)", err, reopened.ID(), repo.ID())
	}
	var lsns []uint64
	if err := reopened.Records(ctx, 1, 0, func(r redolog.Record) error { lsns = append(lsns, r.LSN); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, l := range lsns {
		if l != uint64(i+1) {
			t.Fatalf("lsns %v: want 1..22 without gaps", lsns)
		}
	}
	if len(lsns) != 22 {
		t.Fatalf("%d records read back", len(lsns))
	}
	for _, b := range bodies {
		got, err := reopened.ReadBlob(ctx, dedup.Sum(b))
		if err != nil || string(got) != string(b) {
			t.Fatalf("blob: %q, %v", got, err)
		}
	}
	cat, err := catalog.Rebuild(ctx, reopened, "cat", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	as, err := cat.AccountAt(ctx, 7, now)
	if err != nil {
		t.Fatal(err)
	}
	if as.Version.Account.Address != "a@example.org" || len(as.Items) != 20 || len(as.Folders) != 1 {
		t.Fatalf("rebuilt account: %s, %d items, %d folders", as.Version.Account.Address, len(as.Items), len(as.Folders))
	}
	if rep, err := maint.Verify(ctx, reopened, cat, maint.VerifyOptions{ReadData: true}); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
	if _, err := repository.NewExportWriter(ctx, vol, now); !errors.Is(err, repository.ErrNotEmpty) {
		t.Fatalf("second export into a repository: %v, want ErrNotEmpty", err)
	}
	partial := memvol.New(nil)
	if err := hsm.PutBytes(ctx, partial, "something", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := repository.NewExportWriter(ctx, partial, now); !errors.Is(err, repository.ErrNotEmpty) {
		t.Fatalf("export into a non-empty volume: %v, want ErrNotEmpty", err)
	}
}
