package operations

import (
	"sync"
	"testing"
)

// TestOnEndHearsEveryEnd: a job that finishes and a queued one that is
// stopped both reach OnEnd, once each, with their final state.
func TestOnEndHearsEveryEnd(t *testing.T) {
	var mu sync.Mutex
	ended := map[uint64]State{}
	calls := 0
	heard := make(chan struct{}, 4)
	m := openTest(t, t.TempDir(), &Options{OnEnd: func(op Operation) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		ended[op.ID] = op.State
		heard <- struct{}{}
	}})
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	a := submit(t, m, "job", "a")
	b := submit(t, m, "job", "b")
	g.waitStart(t, "a")
	if _, err := m.Stop(b.ID); err != nil {
		t.Fatal(err)
	}
	close(g.ch("a"))
	if op := wait(t, m, a.ID); op.State != Done {
		t.Fatalf("a ended %s", op.State)
	}
	<-heard
	<-heard
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 || ended[a.ID] != Done || ended[b.ID] != Stopped {
		t.Fatalf("OnEnd heard %d calls: %v", calls, ended)
	}
}
