package engine

import (
	"bytes"
	"errors"
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
		it, err := e.GetItem(ctx, a.ID, id)
		must(t, err)
		bh, err := e.BlobHeader(ctx, it.Digest, it.Size)
		must(t, err)
		if !bytes.Equal(bh, h) {
			t.Fatalf("item %d: BlobHeader differs from ReadHeader", id)
		}
	}
	if _, err := e.BlobHeader(ctx, Digest{1, 2, 3}, 100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("BlobHeader of an unknown digest: %v", err)
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
		// Address fields match on the decoded value and on each address.
		{Header: []HeaderMatch{{"From", "<"}}},
		{Header: []HeaderMatch{{"Cc", ""}}},
		{Header: []HeaderMatch{{"Reply-To", "."}}},
		{Header: []HeaderMatch{{"From", "=?"}}},
		// More fields than an entry keeps decoded (maxTextFields).
		{Header: []HeaderMatch{{"X-Mailer", "a"}}},
		{Header: []HeaderMatch{{"Date", "2"}}},
		{Or: [][2]SearchCriteria{{{Header: []HeaderMatch{{"Keywords", ""}}}, {Header: []HeaderMatch{{"Subject", "=?"}}}}}},
	}
	items, err := e.ListItems(ctx, a.ID, inbox)
	must(t, err)
	for pass := 0; pass < 3; pass++ {
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
	checkHeaderCacheSize(t, e.headers)
}

// checkHeaderCacheSize checks that the cache's size is the sum of its
// entries' costs (decoded fields included) and within its bound.
func checkHeaderCacheSize(t *testing.T, c *headerCache) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	sum, texts := 0, 0
	for el := c.lru.Front(); el != nil; el = el.Next() {
		he := el.Value.(*headerEntry)
		sum += he.cost
		if p := he.texts.Load(); p != nil {
			if len(*p) > maxTextFields {
				t.Fatalf("entry keeps %d decoded fields, at most %d", len(*p), maxTextFields)
			}
			texts++
		}
	}
	if sum != c.size || c.size > c.max {
		t.Fatalf("cache size %d, entries cost %d, bound %d", c.size, sum, c.max)
	}
	if texts == 0 {
		t.Fatal("no entry keeps decoded fields")
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
	// Decoded fields kept in the entries count against the same bound.
	for _, f := range []string{"Subject", "From", "Message-ID", "Date", "X-None", "Subject"} {
		res, err := e.Search(ctx, a.ID, inbox, &SearchCriteria{Header: []HeaderMatch{{f, "1"}}})
		must(t, err)
		if f == "Subject" && len(res) != 119 { // every subject with a 1 in it
			t.Fatalf("Subject 1: found %d", len(res))
		}
	}
	checkHeaderCacheSize(t, e.headers)
}

// fieldValues, which searches match with in place, gives the values
// parseFields gives for every name, over the malformed corpus and some
// hand-made edge cases (continuations after a malformed line and before
// any field, bare CRs, no empty line, upper-case and non-ASCII names).
func TestFieldValuesAsParseFields(t *testing.T) {
	headers := [][]byte{
		[]byte("Subject: a\r\n b\r\ngarbage line\r\n\tc\r\nFrom: x\r\n\r\nbody"),
		[]byte(" leading continuation\r\nSUBJECT:  two words \r\nsubject: second\n"),
		[]byte("Subject: cr\rinside\r\r\nÜber: umlaut\r\nX-A:\r\n \r\n"),
		[]byte(": no name\r\nsubject"),
	}
	names, _ := filepath.Glob(filepath.Join(corpusDirOrEmpty(), "malformed", "*.eml"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		must(t, err)
		end, _ := headerEnd(b)
		headers = append(headers, b[:end])
	}
	for i, h := range headers {
		fields := parseFields(h)
		names := map[string]bool{"subject": true, "from": true, "x-none": true, "über": true}
		for _, f := range fields {
			names[f.name] = true
		}
		for name := range names {
			var want, got []string
			for _, f := range fields {
				if f.name == name {
					want = append(want, f.value)
				}
			}
			fieldValues(h, name, func(v string) bool { got = append(got, v); return true })
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Fatalf("header %d, %q: fieldValues %q, parseFields %q", i, name, got, want)
			}
		}
	}
}

// corpusDirOrEmpty is the corpus root corpusDir uses, "" when absent.
func corpusDirOrEmpty() string {
	base := os.Getenv("TIDEMARK_CORPUS")
	if base == "" {
		base = filepath.Join("..", "..", "shared", "corpus")
	}
	return base
}
