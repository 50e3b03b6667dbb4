package view

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/internal/corrupt"
)

// TestDays spreads an account's history over four days: each day's folder
// shows the state at the day's end, today the newest, and the retention
// window drops the days before it.
func TestDays(t *testing.T) {
	const al = "alice@example.org"
	w := newWorld(t, al) // 2025-03-01 12:00:01 UTC
	m1 := w.add(al, "INBOX")
	w.r.Clk.Advance(30 * time.Hour) // 03-02 18:00
	m2 := w.add(al, "Work")
	w.r.Clk.Advance(24 * time.Hour) // 03-03 18:00
	_, err := w.r.Eng.Expunge(ctx, w.ids[al], w.folder(al, "INBOX"), []uint64{m1.ID})
	w.must(err)
	w.r.Clk.Advance(24 * time.Hour) // 03-04 18:00
	m3 := w.add(al, "INBOX")
	w.r.Sync()
	w.tick()
	a, err := service(w.r, nil).Account(ctx, w.ids[al])
	w.must(err)
	days, err := a.Days(ctx)
	w.must(err)
	var labels []string
	for _, d := range days {
		labels = append(labels, d.Label)
	}
	if !slices.Equal(labels, []string{"2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"}) {
		t.Fatalf("days %v", labels)
	}
	want := map[string]map[string][]uint64{
		"2025-03-01": {"INBOX": {m1.ID}},
		"2025-03-02": {"INBOX": {m1.ID}, "Work": {m2.ID}},
		"2025-03-03": {"INBOX": nil, "Work": {m2.ID}},
		"2025-03-04": {"INBOX": {m3.ID}, "Work": {m2.ID}},
	}
	for _, d := range days {
		n, _, err := ParseName("Backup", DayName("Backup", d.At), nil)
		w.must(err)
		if !n.At.Equal(d.At) {
			t.Fatalf("%s: name says %s, day %s", d.Label, stamp(n.At), stamp(d.At))
		}
		// Today's end is in the future: its name shows the newest state.
		fs, err := a.Folders(ctx, d.At)
		w.must(err)
		hasWork := slices.ContainsFunc(fs, func(f Folder) bool { return f.Path == "Work" })
		if _, ok := want[d.Label]["Work"]; ok != hasWork {
			t.Fatalf("%s: Work listed %v", d.Label, hasWork)
		}
		for path, ids := range want[d.Label] {
			box, err := a.Open(ctx, d.At, path)
			w.must(err)
			if got := itemIDs(box); !slices.Equal(got, ids) {
				t.Fatalf("%s/%s: items %v, want %v", d.Label, path, got, ids)
			}
		}
	}
	short, err := service(w.r, &Options{Retention: 48 * time.Hour}).Account(ctx, w.ids[al])
	w.must(err)
	days, err = short.Days(ctx)
	w.must(err)
	if len(days) != 3 || days[0].Label != "2025-03-02" {
		t.Fatalf("48 h window: %v", days)
	}
	if _, err := short.Open(ctx, days[0].At.Add(-24*time.Hour), "INBOX"); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("a day before the window: %v", err)
	}
	if _, err := short.Open(ctx, days[2].At.Add(time.Nanosecond), "INBOX"); !errors.Is(err, ErrFuture) {
		t.Fatalf("tomorrow: %v", err)
	}
	if _, err := short.Open(ctx, days[2].At.Add(-time.Nanosecond), "INBOX"); !errors.Is(err, ErrFuture) {
		t.Fatalf("a time later today: %v", err)
	}
}

// hostile is a catalog and repository that return damaged data, beside
// the real ones the other tests use.
type hostile struct {
	folders []catalog.FolderState
	items   []catalog.ItemVersion
	blob    []byte
}

func (h *hostile) AccountVersions(ctx context.Context, acct uint64) ([]catalog.AccountVersion, error) {
	return []catalog.AccountVersion{{LSN: 1, Time: time.Unix(100, 0), Account: event.Account{ID: acct}}}, nil
}

func (h *hostile) AccountAt(ctx context.Context, acct uint64, t time.Time) (catalog.AccountState, error) {
	return catalog.AccountState{AsOf: t, Folders: h.folders, Items: h.items}, nil
}

func (h *hostile) FoldersAt(ctx context.Context, acct uint64, t time.Time) ([]catalog.FolderState, error) {
	return h.folders, nil
}

func (h *hostile) DeletedBetween(ctx context.Context, acct uint64, t1, t2 time.Time) ([]catalog.ItemVersion, error) {
	return h.items, nil
}

func (h *hostile) Position() (uint64, int64, error) { return 10, 200e9, nil }

func (h *hostile) ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error) { return h.blob, nil }

func (h *hostile) GetAccount(ctx context.Context, id uint64) (engine.Account, error) {
	return engine.Account{ID: id, Address: "a@example.org"}, nil
}

func (h *hostile) GetCOS(ctx context.Context, name string) (event.COS, error) {
	return event.COS{}, engine.ErrNotFound
}

// TestHostileCatalog: duplicate and zero UIDs, impossible sizes, paths no
// folder can have and bytes that do not match the catalog are refused with
// ErrCorrupt (or left out), never served.
func TestHostileCatalog(t *testing.T) {
	h := &hostile{
		folders: []catalog.FolderState{
			{ID: 1, Path: "INBOX"}, {ID: 2, Path: "Dup"}, {ID: 3, Path: "Dup"}, {ID: 4, Path: "a//b"},
			{ID: 5, Path: "Zero"}, {ID: 6, Path: "Big"}, {ID: 7, Path: "Bad\x00"}, {ID: 8, Path: "Fine"},
		},
		items: []catalog.ItemVersion{
			{ID: 10, Folder: 1, UID: 4, Size: 5, Flags: []string{`\Seen`, "bad flag", `\Recent`, "(x"}},
			{ID: 11, Folder: 1, UID: 4, Size: 5},
			{ID: 12, Folder: 5, UID: 0, Size: 5},
			{ID: 13, Folder: 6, UID: 1, Size: -1},
			{ID: 14, Folder: 8, UID: 9, Size: 6, Flags: []string{`\Seen`, "bad flag", `\Recent`, "(x", "$Label1"}},
		},
		blob: []byte("hello"),
	}
	svc := New(h, h, h, nil, &Options{Now: func() time.Time { return time.Unix(300, 0) }, Logger: discard()})
	a, err := svc.Account(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(250, 0)
	fs, err := a.Folders(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range fs {
		paths = append(paths, f.Path)
	}
	if !slices.Equal(paths, []string{"INBOX", "Dup", "Zero", "Big", "Fine"}) {
		t.Fatalf("folders served: %q", paths)
	}
	for _, p := range []string{"INBOX", "Zero", "Big"} {
		if _, err := a.Open(ctx, at, p); !errors.Is(err, ErrCorrupt) || !corrupt.Is(err) {
			t.Errorf("open %s: %v, want ErrCorrupt", p, err)
		}
	}
	box, err := a.Open(ctx, at, "Fine")
	if err != nil {
		t.Fatal(err)
	}
	if m := box.Messages[0]; !slices.Equal(m.Flags, []string{`\Seen`, "$Label1"}) {
		t.Fatalf("flags served: %q", m.Flags)
	}
	if _, err := a.ReadMessage(ctx, box.Messages[0]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("5 bytes for a 6-byte message: %v", err)
	}
	if _, err := a.Open(ctx, at, "Dup"); err != nil {
		t.Fatalf("the first Dup: %v", err)
	}
	del, err := a.Deleted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Messages) != 4 { // the negative size is left out
		t.Fatalf("Deleted serves %d messages", len(del.Messages))
	}
	if _, _, err := a.CopyBack(ctx, box, []uint32{9}, "INBOX"); err == nil {
		t.Fatal("copy-back without a restorer")
	}
}
