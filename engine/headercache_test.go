package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Searches on header keys over the malformed corpus give the same answer
// from the header cache (first search fills it, second reads it) as the
// uncached evaluator SearchIn, and ReadHeader is the message up to the
// end of its header.
func TestHeaderCacheSameAnswers(t *testing.T) {
	dir := corpusDir(t, "malformed")
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	must(t, err)
	if len(names) == 0 {
		t.Skipf("no .eml files in %s", dir)
	}
	e := openTest(t, vfs.NewMem(), "data")
	defer e.Close()
	must(t, e.CreateDomain(ctx, "m.example"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "m@m.example"})
	must(t, err)
	inbox := inboxOf(t, e, a.ID).ID
	bodies := map[uint64][]byte{}
	for _, name := range names {
		body, err := os.ReadFile(name)
		must(t, err)
		it, err := e.Append(ctx, a.ID, inbox, body, nil, time.Time{})
		must(t, err)
		bodies[it.ID] = body
	}
	for id, body := range bodies {
		h, err := e.ReadHeader(ctx, a.ID, id)
		must(t, err)
		n, _ := headerEnd(body)
		if !bytes.Equal(h, body[:n]) {
			t.Fatalf("item %d: ReadHeader gave %d bytes, want the %d of its header", id, len(h), n)
		}
	}
	criteria := []SearchCriteria{
		{Header: []HeaderMatch{{"Subject", "e"}}},
		{Header: []HeaderMatch{{"From", "@"}}},
		{Header: []HeaderMatch{{"To", "example"}}},
		{Header: []HeaderMatch{{"Message-ID", ""}}},
		{Header: []HeaderMatch{{"Content-Type", "multipart"}}},
		{SentSince: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Not: []SearchCriteria{{Header: []HeaderMatch{{"Subject", "re"}}}}},
		{Text: []string{"the"}, Header: []HeaderMatch{{"From", "a"}}},
	}
	items, err := e.ListItems(ctx, a.ID, inbox)
	must(t, err)
	for pass := 0; pass < 2; pass++ {
		for i, c := range criteria {
			got, err := e.Search(ctx, a.ID, inbox, &c)
			must(t, err)
			want, err := SearchIn(ctx, items, engineReader{e}, &c)
			must(t, err)
			if fmt.Sprint(got) != fmt.Sprint(itemIDs(want)) {
				t.Fatalf("pass %d, criteria %d: cached %v, uncached %v", pass, i, got, itemIDs(want))
			}
		}
	}
	if e.headers.size == 0 {
		t.Fatal("nothing was cached")
	}
}

// The cache stays within its bound however many headers pass through.
func TestHeaderCacheBounded(t *testing.T) {
	o := testOptions(vfs.NewMem())
	o.HeaderCacheSize = 16 << 10
	e, err := Open("data", o)
	must(t, err)
	defer e.Close()
	must(t, e.CreateDomain(ctx, "b.example"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "b@b.example"})
	must(t, err)
	inbox := inboxOf(t, e, a.ID).ID
	for i := 0; i < 200; i++ {
		_, err := e.Append(ctx, a.ID, inbox, msg(fmt.Sprintf("subject %d %s", i, bytes.Repeat([]byte("x"), 200)), "b"), nil, time.Time{})
		must(t, err)
	}
	res, err := e.Search(ctx, a.ID, inbox, &SearchCriteria{Header: []HeaderMatch{{"Subject", "subject 1"}}})
	must(t, err)
	if len(res) != 111 { // 1, 10-19, 100-199
		t.Fatalf("found %d", len(res))
	}
	if e.headers.size > o.HeaderCacheSize || e.headers.lru.Len() == 0 || e.headers.lru.Len() >= 200 {
		t.Fatalf("cache holds %d bytes in %d entries, bound %d", e.headers.size, e.headers.lru.Len(), o.HeaderCacheSize)
	}
}
