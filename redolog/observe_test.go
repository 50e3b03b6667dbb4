package redolog

import (
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestObserverHooks: OnAppend hears every durable append with its record
// count, OnSync every group write with its bytes, which add up to the
// encoded records.
func TestObserverHooks(t *testing.T) {
	var mu sync.Mutex
	var appends, records, syncs, bytes int
	o := testOpts(vfs.NewMem())
	o.OnAppend = func(n int, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		appends++
		records += n
		if d < 0 {
			t.Errorf("append latency %v", d)
		}
	}
	o.OnSync = func(b int, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		syncs++
		bytes += b
	}
	l := mustOpen(t, "log", o)
	defer l.Close()
	want := 0
	for i := range 5 {
		if _, _, err := l.Append(1, payloadFor(i)); err != nil {
			t.Fatal(err)
		}
		want += RecordOverhead + len(payloadFor(i))
	}
	batch := []Entry{{Type: 1, Payload: payloadFor(5)}, {Type: 1, Payload: payloadFor(6)}}
	if _, err := l.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	want += 2 * (RecordOverhead + len(payloadFor(5)))
	mu.Lock()
	defer mu.Unlock()
	if appends != 6 || records != 7 {
		t.Errorf("OnAppend heard %d appends of %d records, want 6 of 7", appends, records)
	}
	if syncs < 1 || syncs > 6 || bytes != want {
		t.Errorf("OnSync heard %d syncs of %d bytes, want 1-6 syncs of %d bytes", syncs, bytes, want)
	}
}
