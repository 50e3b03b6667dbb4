package operations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock: After fires when Advance passes its time.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// Advance moves the clock and fires the waiters that became due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// waitWaiters waits until n timers are pending.
func (c *fakeClock) waitWaiters(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := len(c.waiters)
		c.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no %d pending timers after 10 s", n)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t *testing.T, dir string, o *Options) *Manager {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	m, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// gate is a job that records its start, then waits to be released or
// cancelled.
type gate struct {
	mu      sync.Mutex
	order   []string
	started chan string
	release map[string]chan struct{}
}

func newGate() *gate {
	return &gate{started: make(chan string, 100), release: map[string]chan struct{}{}}
}

func (g *gate) ch(name string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.release[name]
	if !ok {
		c = make(chan struct{})
		g.release[name] = c
	}
	return c
}

func (g *gate) job(ctx context.Context, params json.RawMessage, p *Tracker) (any, error) {
	var a struct{ Name string }
	if err := json.Unmarshal(params, &a); err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.order = append(g.order, a.Name)
	g.mu.Unlock()
	p.SetTotal(10, 1000)
	p.Add(3, 300)
	g.started <- a.Name
	select {
	case <-g.ch(a.Name):
		p.Set(10, 1000)
		return map[string]any{"name": a.Name, "items": 10}, nil
	case <-ctx.Done():
		return map[string]any{"name": a.Name, "items": 3, "partial": true}, ctx.Err()
	}
}

func (g *gate) waitStart(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-g.started:
		if got != want {
			t.Fatalf("started %s, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not start", want)
	}
}

func (g *gate) noStart(t *testing.T) {
	t.Helper()
	select {
	case got := <-g.started:
		t.Fatalf("%s started while its lane was busy", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func params(name string) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"Name":%q}`, name)) }

func submit(t *testing.T, m *Manager, kind, name string) Operation {
	t.Helper()
	op, err := m.Submit(Request{Kind: kind, Params: params(name)})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func wait(t *testing.T, m *Manager, id uint64) Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op, err := m.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %d: %v (state %s)", id, err, op.State)
	}
	return op
}

func TestQueueRunsInSubmissionOrderOneAtATime(t *testing.T) {
	m := openTest(t, t.TempDir(), nil)
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	a, b, c := submit(t, m, "job", "a"), submit(t, m, "job", "b"), submit(t, m, "job", "c")
	if a.State != Queued || a.ID >= b.ID || b.ID >= c.ID {
		t.Fatalf("ids/states: %+v %+v %+v", a, b, c)
	}
	for _, name := range []string{"a", "b", "c"} {
		g.waitStart(t, name)
		g.noStart(t)
		if name == "a" {
			if op, _ := m.Get(b.ID); op.State != Queued {
				t.Fatalf("b is %s while a runs", op.State)
			}
		}
		close(g.ch(name))
	}
	for _, id := range []uint64{a.ID, b.ID, c.ID} {
		op := wait(t, m, id)
		if op.State != Done || op.Progress.Items != 10 || string(op.Report) == "" {
			t.Fatalf("op %d: %+v", id, op)
		}
	}
	if strings.Join(g.order, "") != "abc" {
		t.Fatalf("order %v", g.order)
	}
}

func TestLanesRunConcurrently(t *testing.T) {
	m := openTest(t, t.TempDir(), nil)
	g := newGate()
	m.Register("restore", LaneBackup, g.job)
	m.Register("move", LaneStorage, g.job)
	r := submit(t, m, "restore", "r")
	g.waitStart(t, "r")
	mv := submit(t, m, "move", "m")
	g.waitStart(t, "m") // runs while r still runs
	close(g.ch("m"))
	if op := wait(t, m, mv.ID); op.State != Done || op.Lane != LaneStorage {
		t.Fatalf("move: %+v", op)
	}
	if op, _ := m.Get(r.ID); op.State != Running {
		t.Fatalf("restore is %s", op.State)
	}
	close(g.ch("r"))
	wait(t, m, r.ID)
}

func TestStopQueuedAndRunning(t *testing.T) {
	m := openTest(t, t.TempDir(), nil)
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	a := submit(t, m, "job", "a")
	b := submit(t, m, "job", "b")
	g.waitStart(t, "a")

	op, err := m.Stop(b.ID)
	if err != nil || op.State != Stopped || op.Ended.IsZero() {
		t.Fatalf("stop queued: %+v, %v", op, err)
	}
	op, err = m.Stop(a.ID)
	if err != nil || op.State != Running {
		t.Fatalf("stop running answers %+v, %v", op, err)
	}
	op = wait(t, m, a.ID)
	if op.State != Stopped || !strings.Contains(string(op.Report), `"partial":true`) || op.Progress.Items != 3 {
		t.Fatalf("stopped running: %+v report %s", op, op.Report)
	}
	if _, err := m.Stop(a.ID); !errors.Is(err, ErrEnded) {
		t.Fatalf("stop of an ended operation: %v", err)
	}
	g.noStart(t) // b never ran
	if strings.Join(g.order, "") != "a" {
		t.Fatalf("ran %v", g.order)
	}
	if _, err := m.Stop(999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stop of unknown: %v", err)
	}
}

// copyDir copies the operation files, as a crash would leave them.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == lockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCrashMarksRunningInterruptedAndResubmitRuns(t *testing.T) {
	dir := t.TempDir()
	m := openTest(t, dir, nil)
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	a := submit(t, m, "job", "a")
	b := submit(t, m, "job", "b")
	g.waitStart(t, "a")

	crashed := t.TempDir()
	copyDir(t, dir, crashed) // a running, b queued, as on disk at a crash

	notes := &recorder{}
	m2 := openTest(t, crashed, &Options{Notifier: notes})
	for _, id := range []uint64{a.ID, b.ID} {
		op, err := m2.Get(id)
		if err != nil || op.State != Interrupted || op.Error == "" {
			t.Fatalf("after crash %d: %+v, %v", id, op, err)
		}
	}
	g2 := newGate()
	m2.Register("job", LaneBackup, g2.job)
	re, err := m2.Resubmit(a.ID)
	if err != nil || re.ResubmitOf != a.ID || re.ID <= b.ID || string(re.Params) != string(params("a")) {
		t.Fatalf("resubmit: %+v, %v", re, err)
	}
	g2.waitStart(t, "a")
	close(g2.ch("a"))
	if op := wait(t, m2, re.ID); op.State != Done {
		t.Fatalf("rerun: %+v", op)
	}
	if got := notes.events(); !strings.Contains(got, fmt.Sprintf("ended %d interrupted", a.ID)) {
		t.Fatalf("interrupted operations not notified: %s", got)
	}
	close(g.ch("a"))
}

func TestCloseInterruptsAndReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, &Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	a := submit(t, m, "job", "a")
	b := submit(t, m, "job", "b")
	g.waitStart(t, "a")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := openTest(t, dir, nil)
	opA, _ := m2.Get(a.ID)
	opB, _ := m2.Get(b.ID)
	if opA.State != Interrupted || !strings.Contains(string(opA.Report), "partial") || opB.State != Interrupted {
		t.Fatalf("after close: %+v %+v", opA, opB)
	}
	// New ids continue after the old ones.
	m2.Register("job", LaneBackup, g.job)
	c := submit(t, m2, "job", "c")
	if c.ID <= b.ID {
		t.Fatalf("id %d reused", c.ID)
	}
}

func TestFilesArePrivateAndLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "operations")
	m := openTest(t, dir, nil)
	m.Register("job", LaneBackup, func(ctx context.Context, _ json.RawMessage, _ *Tracker) (any, error) { return nil, nil })
	op, err := m.Submit(Request{Kind: "job"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, m, op.ID)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(m.store.path(op.ID)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v", fi.Mode(), err)
	}
	if _, err := Open(dir, &Options{Logger: quietLogger()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	if _, err := m.Submit(Request{Kind: "nope"}); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := m.Submit(Request{Kind: "job", Params: json.RawMessage("{bad")}); err == nil {
		t.Fatal("bad parameters accepted")
	}
}

func TestCorruptRecordIsSetAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.json", 7)), []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := openTest(t, dir, nil)
	if len(m.List()) != 0 {
		t.Fatalf("corrupt record listed: %+v", m.List())
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%020d.json.corrupt", 7))); err != nil {
		t.Fatal(err)
	}
}

func TestFailedAndPanickingJobs(t *testing.T) {
	m := openTest(t, t.TempDir(), &Options{Classify: func(err error) string {
		if strings.Contains(err.Error(), "unreachable") {
			return "outage"
		}
		return ""
	}})
	m.Register("fail", LaneBackup, func(ctx context.Context, _ json.RawMessage, _ *Tracker) (any, error) {
		return map[string]int{"restored": 1}, errors.New("repository unreachable")
	})
	m.Register("panic", LaneBackup, func(ctx context.Context, _ json.RawMessage, _ *Tracker) (any, error) {
		panic("boom")
	})
	f, _ := m.Submit(Request{Kind: "fail"})
	p, _ := m.Submit(Request{Kind: "panic"})
	if op := wait(t, m, f.ID); op.State != Failed || op.Error != "repository unreachable" || op.ErrorClass != "outage" || string(op.Report) != `{"restored":1}` {
		t.Fatalf("failed: %+v", op)
	}
	if op := wait(t, m, p.ID); op.State != Failed || !strings.Contains(op.Error, "boom") {
		t.Fatalf("panic: %+v", op)
	}
}

func TestProgressRateAndETAOnTheClock(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	m := openTest(t, t.TempDir(), &Options{Now: clk.Now})
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	a := submit(t, m, "job", "a")
	g.waitStart(t, "a")
	clk.Advance(3 * time.Second)
	op, _ := m.Get(a.ID)
	p := op.Progress
	// 300 of 1000 bytes in 3 s: 100 B/s, 7 s to go.
	if p.Items != 3 || p.BytesPerSec != 100 || p.ItemsPerSec != 1 || p.ETASeconds != 7 || p.Fraction() != 0.3 {
		t.Fatalf("progress %+v", p)
	}
	close(g.ch("a"))
	wait(t, m, a.ID)
}

func TestKeepPrunesOldestEnded(t *testing.T) {
	dir := t.TempDir()
	m := openTest(t, dir, &Options{Keep: 2})
	m.Register("job", LaneBackup, func(ctx context.Context, _ json.RawMessage, _ *Tracker) (any, error) { return nil, nil })
	var last uint64
	for range 4 {
		op, err := m.Submit(Request{Kind: "job"})
		if err != nil {
			t.Fatal(err)
		}
		wait(t, m, op.ID)
		last = op.ID
	}
	ops := m.List()
	for deadline := time.Now().Add(10 * time.Second); len(ops) > 2 && time.Now().Before(deadline); ops = m.List() {
		time.Sleep(time.Millisecond) // the lane prunes just after the end is published
	}
	if len(ops) != 2 || ops[1].ID != last {
		t.Fatalf("kept %+v", ops)
	}
	if _, err := os.Stat(m.store.path(1)); !os.IsNotExist(err) {
		t.Fatalf("oldest file still there: %v", err)
	}
}

func TestPauseHoldsTheQueue(t *testing.T) {
	m := openTest(t, t.TempDir(), nil)
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	m.Register("move", LaneStorage, g.job)
	if err := m.Pause(LaneBackup); err != nil {
		t.Fatal(err)
	}
	a := submit(t, m, "job", "a")
	mv := submit(t, m, "move", "m")
	g.waitStart(t, "m") // the other lane is not held
	g.noStart(t)
	if op, _ := m.Get(a.ID); op.State != Queued {
		t.Fatalf("a is %s in a paused lane", op.State)
	}
	if got := m.Paused(); len(got) != 1 || got[0] != LaneBackup {
		t.Fatalf("paused %v", got)
	}
	if err := m.Resume(LaneBackup); err != nil {
		t.Fatal(err)
	}
	g.waitStart(t, "a")
	close(g.ch("a"))
	close(g.ch("m"))
	wait(t, m, a.ID)
	wait(t, m, mv.ID)
	if err := m.Pause("hsm"); err == nil {
		t.Fatal("unknown lane paused")
	}
}

func TestReadDirLooksWithoutChanging(t *testing.T) {
	dir := t.TempDir()
	m := openTest(t, dir, nil)
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	a := submit(t, m, "job", "a")
	g.waitStart(t, "a")
	ops, err := ReadDir(dir) // held by m: as written
	if err != nil || len(ops) != 1 || ops[0].State != Running {
		t.Fatalf("ReadDir of a held directory: %+v, %v", ops, err)
	}
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	ops, err = ReadDir(crashed) // nobody holds it: left running means interrupted
	if err != nil || len(ops) != 1 || ops[0].State != Interrupted || ops[0].ID != a.ID {
		t.Fatalf("ReadDir after a crash: %+v, %v", ops, err)
	}
	b, _ := os.ReadFile(filepath.Join(crashed, fmt.Sprintf("%020d.json", a.ID)))
	if !strings.Contains(string(b), `"state":"running"`) {
		t.Fatalf("ReadDir changed the file: %s", b)
	}
	close(g.ch("a"))
}

// TestOnEndBeforeVisible: whoever sees an operation end (Wait, Get, a
// queued one stopped) finds it already told to OnEnd, so a metrics scrape
// right after `--sync` returns counts it.
func TestOnEndBeforeVisible(t *testing.T) {
	var mu sync.Mutex
	heard := map[uint64]State{}
	m := openTest(t, t.TempDir(), &Options{OnEnd: func(op Operation) {
		mu.Lock()
		heard[op.ID] = op.State
		mu.Unlock()
	}})
	g := newGate()
	m.Register("job", LaneBackup, g.job)
	for i := range 50 {
		name := fmt.Sprintf("j%d", i)
		op := submit(t, m, "job", name)
		close(g.ch(name))
		end := wait(t, m, op.ID)
		mu.Lock()
		st, ok := heard[op.ID]
		mu.Unlock()
		if !ok || st != end.State {
			t.Fatalf("operation %d seen %s before OnEnd heard of it (heard %v %q)", op.ID, end.State, ok, st)
		}
	}
	// A queued operation stopped before it ran.
	g = newGate()
	m.Register("job2", LaneBackup, g.job)
	a := submit(t, m, "job2", "a")
	g.waitStart(t, "a")
	b := submit(t, m, "job2", "b")
	stopped, err := m.Stop(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	st := heard[b.ID]
	mu.Unlock()
	if stopped.State != Stopped || st != Stopped {
		t.Fatalf("queued stop: %s, OnEnd heard %q", stopped.State, st)
	}
	close(g.ch("a"))
	wait(t, m, a.ID)
}
