package view

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/restore/internal/oracle"
)

// TestSearchSortThreadMatchLive: at the newest time the view holds the
// live folders with their UIDs, so SEARCH, SORT and THREAD over the view
// must give the live answers, UID for UID.
func TestSearchSortThreadMatchLive(t *testing.T) {
	r := oracle.NewRig(t, vfs.NewMem(), "s", nil)
	h := &oracle.History{R: r, Rnd: rand.New(rand.NewPCG(5, 9))}
	h.Run("src@example.org", 120, false)
	r.Sync()
	r.Clk.Advance(time.Second)
	a, err := service(r, nil).Account(ctx, h.Acct)
	if err != nil {
		t.Fatal(err)
	}
	now := r.Clk.Now()
	criteria := []*engine.SearchCriteria{
		nil,
		{Flags: []string{`\Seen`}},
		{NotFlags: []string{`\Deleted`}, Header: []engine.HeaderMatch{{Key: "From", Value: "a1@example.net"}}},
		{Body: []string{"line 2"}},
		{Larger: 1000},
		{UIDs: []engine.UIDRange{{Start: 2, Stop: 5}}},
		{Or: [][2]engine.SearchCriteria{{{Flags: []string{"Work"}}, {Header: []engine.HeaderMatch{{Key: "Subject", Value: "message 1"}}}}}},
	}
	sorts := [][]engine.SortKey{{{Field: engine.SortSubject}}, {{Field: engine.SortSize, Reverse: true}}, {{Field: engine.SortFrom}, {Field: engine.SortArrival}}}
	fs, err := r.Eng.ListFolders(ctx, h.Acct)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, f := range fs {
		live, err := r.Eng.ListItems(ctx, h.Acct, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		uid := map[uint64]uint32{}
		for _, it := range live {
			uid[it.ID] = it.UID
		}
		uids := func(ids []uint64) []uint32 {
			out := []uint32{}
			for _, id := range ids {
				out = append(out, uid[id])
			}
			return out
		}
		box, err := a.Open(ctx, now, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range criteria {
			want, err := r.Eng.Search(ctx, h.Acct, f.ID, c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Search(ctx, box, c)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(append([]uint32{}, got...)) != fmt.Sprint(uids(want)) {
				t.Fatalf("%s SEARCH %+v: view %v, live %v", f.Path, c, got, uids(want))
			}
			compared += len(got)
		}
		for _, keys := range sorts {
			want, err := r.Eng.Sort(ctx, h.Acct, f.ID, keys, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Sort(ctx, box, keys, nil)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(append([]uint32{}, got...)) != fmt.Sprint(uids(want)) {
				t.Fatalf("%s SORT %+v: view %v, live %v", f.Path, keys, got, uids(want))
			}
		}
		for _, alg := range []engine.ThreadAlgorithm{engine.ThreadOrderedSubject, engine.ThreadReferences} {
			want, err := r.Eng.Thread(ctx, h.Acct, f.ID, alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Thread(ctx, box, alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			var render func([]*engine.Thread, func(uint64) uint64) string
			render = func(ts []*engine.Thread, name func(uint64) uint64) string {
				s := ""
				for _, t := range ts {
					s += fmt.Sprintf("(%d %s)", name(t.Item), render(t.Children, name))
				}
				return s
			}
			if w, g := render(want, func(id uint64) uint64 { return uint64(uid[id]) }), render(got, func(u uint64) uint64 { return u }); w != g {
				t.Fatalf("%s THREAD %s: view %s, live %s", f.Path, alg, g, w)
			}
		}
	}
	if compared == 0 {
		t.Fatal("no search matched anything")
	}
}
