package imap

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func seqNums(t *testing.T, d *imap.SearchData) []uint32 {
	t.Helper()
	switch all := d.All.(type) {
	case imap.SeqSet:
		n, _ := all.Nums()
		return n
	case imap.UIDSet:
		var out []uint32
		for _, r := range all {
			for u := r.Start; u <= r.Stop; u++ {
				out = append(out, uint32(u))
			}
		}
		return out
	}
	return nil
}

func TestStoreSearchCopyMoveExpunge(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)

	old := time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)
	recent := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		d := old
		if i > 3 {
			d = recent
		}
		subj := "ordinary"
		if i%2 == 0 {
			subj = "Invoice due"
		}
		appendMsg(t, c, "INBOX", testMessage(i, subj), &imap.AppendOptions{Time: d})
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	// STORE: +FLAGS, -FLAGS, FLAGS, .SILENT; flags canonical.
	res, err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"\\SEEN", "$Label1"}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !strings.Contains(flagStrings(res[0].Flags), `\Seen`) || !strings.Contains(flagStrings(res[0].Flags), `$Label1`) {
		t.Fatalf("STORE +FLAGS response: %+v", res)
	}
	if _, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{"$label1"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err != nil || len(res) != 0 {
		t.Fatalf("STORE.SILENT: %v %v", res, err)
	}

	search := func(uid bool, c2 *imap.SearchCriteria) []uint32 {
		t.Helper()
		var cmd = c.Search(c2, nil)
		if uid {
			cmd = c.UIDSearch(c2, nil)
		}
		d, err := cmd.Wait()
		if err != nil {
			t.Fatalf("search %+v: %v", c2, err)
		}
		return seqNums(t, d)
	}
	eq := func(what string, got []uint32, want ...uint32) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s = %v, want %v", what, got, want)
				return
			}
		}
	}
	eq("SEEN", search(false, &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}), 1, 2)
	eq("UNSEEN", search(false, &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}), 3, 4, 5)
	eq("KEYWORD", search(false, &imap.SearchCriteria{Flag: []imap.Flag{"$Label1"}}), 1)
	eq("FLAGGED", search(false, &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}), 3)
	eq("SINCE", search(false, &imap.SearchCriteria{Since: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}), 4, 5)
	eq("BEFORE", search(false, &imap.SearchCriteria{Before: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}), 1, 2, 3)
	eq("SUBJECT", search(false, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "invoice"}}}), 2, 4)
	eq("BODY", search(false, &imap.SearchCriteria{Body: []string{"message 5"}}), 5)
	eq("TEXT", search(false, &imap.SearchCriteria{Text: []string{"sender3@"}}), 3)
	eq("NOT", search(false, &imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}), 3, 4, 5)
	eq("OR", search(false, &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Body: []string{"message 5"}}}}}), 3, 5)
	eq("seq 2:*", search(false, &imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 2, Stop: 0}}}}), 2, 3, 4, 5)
	eq("UID 4:*", search(true, &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 4, Stop: 0}}}}), 4, 5)
	eq("LARGER", search(false, &imap.SearchCriteria{Larger: 1}), 1, 2, 3, 4, 5)
	eq("SMALLER", search(false, &imap.SearchCriteria{Smaller: 10}))

	// ESEARCH return options and SEARCHRES.
	d, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true, ReturnSave: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.Min != 3 || d.Max != 5 || d.Count != 3 {
		t.Errorf("ESEARCH = min %d max %d count %d", d.Min, d.Max, d.Count)
	}
	// COPY with COPYUID, MOVE, EXPUNGE, UID EXPUNGE.
	cd, err := c.Copy(imap.SeqSetNum(1, 2), "Trash").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if src, _ := cd.SourceUIDs.Nums(); len(src) != 2 || src[0] != 1 {
		t.Errorf("COPYUID source %v", cd.SourceUIDs)
	}
	wantCode(t, "copy to missing", func() error { _, err := c.Copy(imap.SeqSetNum(1), "Nope").Wait(); return err }(), imap.ResponseCodeTryCreate)
	md, err := c.Move(imap.UIDSetNum(5), "Sent").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if dst, _ := md.DestUIDs.(imap.UIDSet).Nums(); len(dst) != 1 || dst[0] != 1 {
		t.Errorf("MOVE COPYUID dest %v", md.DestUIDs)
	}
	if n := c.Mailbox().NumMessages; n != 4 {
		t.Errorf("after MOVE client sees %d messages, want 4", n)
	}
	if _, err := c.Store(imap.SeqSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	exp, err := c.UIDExpunge(imap.UIDSetNum(3)).Collect()
	if err != nil || len(exp) != 1 || exp[0] != 3 {
		t.Fatalf("UID EXPUNGE 3 = %v, %v", exp, err)
	}
	exp, err = c.Expunge().Collect()
	if err != nil || len(exp) != 1 || exp[0] != 1 {
		t.Fatalf("EXPUNGE = %v, %v", exp, err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 2 || msgs[0].UID != 2 || msgs[1].UID != 4 {
		t.Fatalf("after expunge: %+v %v", msgs, err)
	}
	for box, want := range map[string]uint32{"Trash": 2, "Sent": 1, "INBOX": 2} {
		st, err := c.Status(box, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != want {
			t.Errorf("STATUS %s = %v %v, want %d", box, st, err, want)
		}
	}

	// EXAMINE is read-only; UNSELECT leaves the selected state.
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err == nil {
		t.Errorf("STORE in EXAMINE succeeded")
	}
	msgs, err = c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || strings.Contains(flagStrings(msgs[0].Flags), `\Seen`) {
		t.Errorf("FETCH BODY[] in EXAMINE set \\Seen: %v %v", msgs, err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect(); err == nil {
		t.Errorf("FETCH after UNSELECT succeeded")
	}
}
