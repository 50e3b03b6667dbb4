package engine

import (
	"testing"

	"github.com/tidemark/tidemark/engine/event"
)

// A CONDSTORE/QRESYNC resync of a 10,000-message folder after 100 flag
// changes: the changed items and the (empty) vanished set.
func BenchmarkResync10k(b *testing.B) {
	e, a := newEngine(b)
	inbox := inboxOf(b, e, a.ID).ID
	var ids []uint64
	for i := 0; i < 10; i++ {
		items, errs := e.AppendMany(ctx, a.ID, inbox, manyMsgs("b", 1000, 0), event.AddAppended)
		for _, err := range errs {
			must(b, err)
		}
		for _, it := range items {
			ids = append(ids, it.ID)
		}
	}
	ms := e.AppliedLSN()
	for i := 0; i < 100; i++ {
		_, err := e.StoreFlags(ctx, a.ID, inbox, []uint64{ids[i*97]}, FlagsAdd, []string{`\Seen`}, 0)
		must(b, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch, err := e.ChangedSince(ctx, a.ID, inbox, ms)
		if err != nil || len(ch) != 100 {
			b.Fatal(err, len(ch))
		}
		v, err := e.VanishedSince(ctx, a.ID, inbox, ms, nil)
		if err != nil || len(v) != 0 {
			b.Fatal(err)
		}
	}
}
