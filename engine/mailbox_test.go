package engine

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine/event"
)

func msg(subject, body string) []byte {
	return []byte("From: a@example.net\r\nSubject: " + subject + "\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\n\r\n" + body + "\r\n")
}

func inboxOf(t testing.TB, e *Engine, acct uint64) Folder {
	t.Helper()
	f, err := e.FolderByPath(ctx, acct, "INBOX")
	must(t, err)
	return f
}

func TestFolders(t *testing.T) {
	e, a := newEngine(t)
	p, err := e.CreateFolder(ctx, a.ID, "Projects", "")
	must(t, err)
	_, err = e.CreateFolder(ctx, a.ID, "Projects", "")
	wantErr(t, err, ErrExists)
	_, err = e.CreateFolder(ctx, a.ID, "Nope/Child", "")
	wantErr(t, err, ErrNotFound)
	_, err = e.CreateFolder(ctx, a.ID, "X", `\Bogus`)
	wantErr(t, err, ErrInvalid)
	_, err = e.CreateFolder(ctx, 77, "X", "")
	wantErr(t, err, ErrNotFound)
	c, err := e.CreateFolder(ctx, a.ID, "Projects/2025", `\Archive`)
	must(t, err)
	if c.Parent != p.ID || c.Path != "Projects/2025" {
		t.Fatalf("child %+v", c)
	}
	wantErr(t, e.DeleteFolder(ctx, a.ID, p.ID), ErrFolderNotEmpty)
	inbox := inboxOf(t, e, a.ID)
	wantErr(t, e.RenameFolder(ctx, a.ID, inbox.ID, "Old"), ErrInvalid)
	wantErr(t, e.DeleteFolder(ctx, a.ID, inbox.ID), ErrInvalid)
	wantErr(t, e.RenameFolder(ctx, a.ID, p.ID, "Sent"), ErrExists)
	wantErr(t, e.RenameFolder(ctx, a.ID, p.ID, "Projects/2025/x"), ErrInvalid)

	must(t, e.RenameFolder(ctx, a.ID, p.ID, "Work"))
	moved, err := e.FolderByPath(ctx, a.ID, "Work/2025")
	if err != nil || moved.ID != c.ID {
		t.Fatalf("child after rename %+v %v", moved, err)
	}
	w, _ := e.GetFolder(ctx, a.ID, p.ID)
	if w.UIDValidity == p.UIDValidity {
		t.Fatal("rename kept UIDVALIDITY")
	}
	_, err = e.FolderByPath(ctx, a.ID, "Projects")
	wantErr(t, err, ErrNotFound)

	must(t, e.SetSubscribed(ctx, a.ID, c.ID, false))
	g, _ := e.GetFolder(ctx, a.ID, c.ID)
	if g.Subscribed {
		t.Fatal("still subscribed")
	}
	// Deleting a folder takes its items, their quota and blob references.
	_, err = e.Append(ctx, a.ID, c.ID, msg("x", "y"), nil, time.Time{})
	must(t, err)
	must(t, e.DeleteFolder(ctx, a.ID, c.ID))
	must(t, e.DeleteFolder(ctx, a.ID, p.ID))
	if used, _, _ := e.Quota(ctx, a.ID); used != 0 {
		t.Fatalf("quota after folder delete %d", used)
	}
	// A recreated folder gets a new id and UIDVALIDITY.
	n, err := e.CreateFolder(ctx, a.ID, "Work", "")
	must(t, err)
	if n.ID == p.ID || n.UIDValidity <= w.UIDValidity {
		t.Fatalf("recreated %+v, old %+v", n, w)
	}
	must(t, e.Check(ctx))
}

func TestItems(t *testing.T) {
	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID)
	arch, err := e.CreateFolder(ctx, a.ID, "Archive", `\Archive`)
	must(t, err)
	var ids []uint64
	for i := 0; i < 4; i++ {
		it, err := e.Append(ctx, a.ID, inbox.ID, msg(fmt.Sprint("m", i), "body"), []string{`\seen`, "$Label"}, time.Time{})
		must(t, err)
		if it.UID != uint32(i+1) || it.Flags[0] != "$Label" || it.Flags[1] != `\Seen` {
			t.Fatalf("appended %+v", it)
		}
		ids = append(ids, it.ID)
	}
	_, err = e.Append(ctx, a.ID, inbox.ID, msg("x", "y"), []string{`\Bogus`}, time.Time{})
	wantErr(t, err, ErrInvalid)
	_, err = e.Append(ctx, a.ID, 999, msg("x", "y"), nil, time.Time{})
	wantErr(t, err, ErrNotFound)

	// Flags, with CONDSTORE.
	ch, err := e.StoreFlags(ctx, a.ID, inbox.ID, ids[:2], FlagsAdd, []string{`\Deleted`}, 0)
	must(t, err)
	if len(ch) != 2 || ch[0].ModSeq <= ch[0].ID {
		t.Fatalf("changed %+v", ch)
	}
	ch2, err := e.StoreFlags(ctx, a.ID, inbox.ID, ids[:2], FlagsAdd, []string{`\Deleted`}, 0)
	if err != nil || len(ch2) != 0 {
		t.Fatalf("no-op store %+v %v", ch2, err)
	}
	ch3, err := e.StoreFlags(ctx, a.ID, inbox.ID, ids, FlagsRemove, []string{`\Seen`}, ch[0].ModSeq-1)
	must(t, err)
	if len(ch3) != 2 { // the two just changed are newer than UNCHANGEDSINCE
		t.Fatalf("unchangedsince %+v", ch3)
	}
	since, err := e.ChangedSince(ctx, a.ID, inbox.ID, ch[1].ModSeq)
	if err != nil || len(since) != 2 {
		t.Fatalf("changed since %+v %v", since, err)
	}
	_, err = e.StoreFlags(ctx, a.ID, arch.ID, ids, FlagsSet, nil, 0)
	wantErr(t, err, ErrNotFound)
	f := inboxOf(t, e, a.ID)
	if f.Messages != 4 || f.Deleted != 2 || f.Unseen != 2 {
		t.Fatalf("counts %+v", f)
	}

	// Copy and move.
	cp, err := e.Copy(ctx, a.ID, inbox.ID, []uint64{ids[3]}, arch.ID)
	must(t, err)
	if len(cp) != 1 || cp[0].UID != 1 || cp[0].ID == ids[3] || cp[0].Digest != (Item{}).Digest && cp[0].Size == 0 {
		t.Fatalf("copy %+v", cp)
	}
	mv, err := e.Move(ctx, a.ID, inbox.ID, []uint64{ids[2]}, arch.ID)
	must(t, err)
	if mv[0].ID != ids[2] || mv[0].UID != 2 || mv[0].Folder != arch.ID {
		t.Fatalf("move %+v", mv)
	}
	_, err = e.Move(ctx, a.ID, inbox.ID, []uint64{ids[2]}, arch.ID)
	wantErr(t, err, ErrNotFound)

	// Expunge \Deleted.
	gone, err := e.Expunge(ctx, a.ID, inbox.ID, nil)
	must(t, err)
	if len(gone) != 2 {
		t.Fatalf("expunged %+v", gone)
	}
	left, _ := e.ListItems(ctx, a.ID, inbox.ID)
	if len(left) != 1 || left[0].ID != ids[3] {
		t.Fatalf("left %+v", left)
	}
	_, err = e.GetItem(ctx, a.ID, ids[0])
	wantErr(t, err, ErrNotFound)
	must(t, e.EmptyFolder(ctx, a.ID, arch.ID))
	if items, _ := e.ListItems(ctx, a.ID, arch.ID); len(items) != 0 {
		t.Fatalf("after empty %+v", items)
	}
	rc, n, err := e.OpenBlob(ctx, a.ID, ids[3])
	must(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	if int64(len(b)) != n || !strings.Contains(string(b), "Subject: m3") {
		t.Fatalf("blob %q", b)
	}
	part, err := e.ReadBlobRange(ctx, a.ID, ids[3], 6, 13)
	if err != nil || string(part) != "a@example.net" {
		t.Fatalf("range %q %v", part, err)
	}
	must(t, e.Check(ctx))
}

func TestQuotaAndSize(t *testing.T) {
	e, a := newEngine(t)
	m := msg("q", strings.Repeat("x", 100))
	q := int64(2*len(m) + 10)
	_, err := e.ModifyAccount(ctx, a.ID, AccountChange{Quota: &q})
	must(t, err)
	inbox := inboxOf(t, e, a.ID)
	for i := 0; i < 2; i++ {
		r, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: m})
		if err != nil || r[0].Err != nil {
			t.Fatalf("deliver %d: %v %+v", i, err, r)
		}
	}
	r, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: m})
	must(t, err)
	wantErr(t, r[0].Err, ErrQuotaExceeded)
	_, err = e.Append(ctx, a.ID, inbox.ID, m, nil, time.Time{})
	wantErr(t, err, ErrQuotaExceeded)
	items, _ := e.ListItems(ctx, a.ID, inbox.ID)
	_, err = e.Copy(ctx, a.ID, inbox.ID, []uint64{items[0].ID}, inbox.ID)
	wantErr(t, err, ErrQuotaExceeded)
	used, limit, _ := e.Quota(ctx, a.ID)
	if used != int64(2*len(m)) || limit != q {
		t.Fatalf("quota %d/%d", used, limit)
	}

	small := &Options{MaxMessageSize: 10}
	e.opts.MaxMessageSize = small.MaxMessageSize
	_, err = e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: m})
	wantErr(t, err, ErrTooLarge)
	must(t, e.Check(ctx))
}

func TestDeliverManyRecipients(t *testing.T) {
	e, a := newEngine(t)
	b, err := e.CreateAccount(ctx, AccountSpec{Address: "bob@example.org"})
	must(t, err)
	c, err := e.CreateAccount(ctx, AccountSpec{Address: "carol@example.org"})
	must(t, err)
	maint := event.StatusMaintenance
	_, err = e.ModifyAccount(ctx, c.ID, AccountChange{Status: &maint})
	must(t, err)
	body := msg("all", "to everyone")
	res, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID, b.ID, c.ID, 404, a.ID}, Body: body})
	must(t, err)
	if res[0].Err != nil || res[1].Err != nil || res[4].Err != nil || res[4].Item.ID != res[0].Item.ID {
		t.Fatalf("results %+v", res)
	}
	var se *StatusError
	if !errorsAs(res[2].Err, &se) || !se.Temporary() {
		t.Fatalf("maintenance: %v", res[2].Err)
	}
	wantErr(t, res[3].Err, ErrNotFound)
	if res[0].Item.Digest != res[1].Item.Digest {
		t.Fatal("different digests")
	}
	// One blob, two references.
	var br blobRec
	ok, err := getVal(e.db, blobKey(res[0].Item.Digest), &br)
	if err != nil || !ok || br.Refs != 2 {
		t.Fatalf("blob record %+v %v %v", br, ok, err)
	}
	must(t, e.Check(ctx))
}

func TestWatch(t *testing.T) {
	e, a := newEngine(t)
	ch, cancel := e.Watch(a.ID)
	inbox := inboxOf(t, e, a.ID)
	r, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: msg("w", "x")})
	must(t, err)
	c := <-ch
	if c.Kind != ChangeAdded || c.Folder != inbox.ID || len(c.Items) != 1 || c.Items[0].ID != r[0].Item.ID {
		t.Fatalf("change %+v", c)
	}
	_, err = e.StoreFlags(ctx, a.ID, inbox.ID, []uint64{r[0].Item.ID}, FlagsAdd, []string{`\Seen`}, 0)
	must(t, err)
	if c := <-ch; c.Kind != ChangeFlags || c.ModSeq <= r[0].Item.ModSeq {
		t.Fatalf("flags change %+v", c)
	}
	// Overflow: never blocks the writer, ends with a marker.
	for i := 0; i < WatchBuffer+20; i++ {
		_, err := e.StoreFlags(ctx, a.ID, inbox.ID, []uint64{r[0].Item.ID}, FlagOp(i%2+1), []string{"$x"}, 0)
		must(t, err)
	}
	var last Change
	for i := 0; i < WatchBuffer; i++ {
		last = <-ch
	}
	if last.Kind != ChangeOverflow {
		t.Fatalf("last change %+v, want overflow", last)
	}
	// After draining, changes flow again.
	_, err = e.StoreFlags(ctx, a.ID, inbox.ID, []uint64{r[0].Item.ID}, FlagsAdd, []string{"$y"}, 0)
	must(t, err)
	if c := <-ch; c.Kind != ChangeFlags {
		t.Fatalf("after overflow %+v", c)
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after cancel")
	}
}

func TestSearch(t *testing.T) {
	e, a := newEngine(t)
	inbox := inboxOf(t, e, a.ID)
	d1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	i1, _ := e.Append(ctx, a.ID, inbox.ID, msg("Invoice March", "please pay"), []string{`\Seen`}, d1)
	i2, _ := e.Append(ctx, a.ID, inbox.ID, msg("Lunch", "pizza at noon"), nil, d1.AddDate(0, 1, 0))
	big, _ := e.Append(ctx, a.ID, inbox.ID, msg("Big", strings.Repeat("z", 5000)), nil, d1.AddDate(0, 2, 0))
	cases := []struct {
		name string
		c    SearchCriteria
		want []uint64
	}{
		{"all", SearchCriteria{}, []uint64{i1.ID, i2.ID, big.ID}},
		{"seen", SearchCriteria{Flags: []string{`\seen`}}, []uint64{i1.ID}},
		{"unseen", SearchCriteria{NotFlags: []string{`\Seen`}}, []uint64{i2.ID, big.ID}},
		{"since", SearchCriteria{Since: d1.AddDate(0, 1, 0)}, []uint64{i2.ID, big.ID}},
		{"before", SearchCriteria{Before: d1.AddDate(0, 1, 0)}, []uint64{i1.ID}},
		{"larger", SearchCriteria{Larger: 1000}, []uint64{big.ID}},
		{"smaller", SearchCriteria{Smaller: 1000}, []uint64{i1.ID, i2.ID}},
		{"subject", SearchCriteria{Header: []HeaderMatch{{"subject", "invoice"}}}, []uint64{i1.ID}},
		{"body", SearchCriteria{Body: []string{"PIZZA"}}, []uint64{i2.ID}},
		{"body not header", SearchCriteria{Body: []string{"lunch"}}, nil},
		{"text", SearchCriteria{Text: []string{"lunch"}}, []uint64{i2.ID}},
		{"uid", SearchCriteria{UIDs: []UIDRange{{2, 0}}}, []uint64{i2.ID, big.ID}},
		{"not", SearchCriteria{Not: []SearchCriteria{{Flags: []string{`\Seen`}}}}, []uint64{i2.ID, big.ID}},
		{"or", SearchCriteria{Or: [][2]SearchCriteria{{{Body: []string{"pay"}}, {Larger: 1000}}}}, []uint64{i1.ID, big.ID}},
		{"sent", SearchCriteria{SentSince: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}, []uint64{i1.ID, i2.ID, big.ID}},
		{"sent before", SearchCriteria{SentBefore: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}, nil},
	}
	for _, tc := range cases {
		got, err := e.Search(ctx, a.ID, inbox.ID, &tc.c)
		must(t, err)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v want %v", tc.name, got, tc.want)
		}
	}
}

// Concurrent deliverers share rounds (group commit); every acknowledged
// message is there once, with exact counts.
func TestConcurrentDeliveries(t *testing.T) {
	e, a := newEngine(t)
	const workers, per = 16, 20
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < per; i++ {
				body := msg(fmt.Sprint(w, "-", i), strings.Repeat("b", (w*per+i)*37%90000))
				r, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body})
				if err == nil {
					err = r[0].Err
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		must(t, <-errs)
	}
	inbox := inboxOf(t, e, a.ID)
	if inbox.Messages != workers*per || inbox.UIDNext != workers*per+1 {
		t.Fatalf("inbox %+v", inbox)
	}
	must(t, e.Check(ctx))
}
