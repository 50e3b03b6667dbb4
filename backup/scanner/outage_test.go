package scanner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
)

// deliverDuringOutage delivers n messages while the repository is down
// and checks the engine accepts them and the lag shows; then up() ends
// the outage and the scanner catches up with nothing lost.
func deliverDuringOutage(t *testing.T, h *backuptest.Harness, down, up func()) {
	ctx := context.Background()
	e := h.Eng
	if err := e.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "carol@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	h.WaitShipped()
	down()
	for i := 0; i < 20; i++ {
		h.Clk.Add(time.Second)
		if _, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: backuptest.Message(i, 100+i*300)}); err != nil {
			t.Fatalf("engine refused mail during a repository outage: %v", err)
		}
	}
	// The lag is visible while the repository is down.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := h.Scanner.Live()
		if st.LagRecords >= 20 && st.State == "failing" && st.LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outage not visible: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.Scanner.Live().LagSeconds; got < 19 {
		t.Errorf("lag %v s, want at least the 20 s of records the clock moved through", got)
	}
	up()
	h.WaitShipped()
	if st := h.Scanner.Live(); st.LagRecords != 0 || st.State != "running" {
		t.Errorf("after the outage: %+v", st)
	}
	got, err := backuptest.CatalogView(t, h.Cat, a.ID, h.Clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := backuptest.EngineView(t, e, a.ID); !reflect.DeepEqual(got, want) || len(want.Items) != 20 {
		t.Fatalf("after the outage the catalog has\n%v\nthe engine\n%v", got, want)
	}
	st, err := h.Cat.AccountAt(ctx, a.ID, h.Clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range st.Items {
		if _, err := h.Repo.ReadBlob(ctx, it.Digest); err != nil {
			t.Fatalf("blob of item %d: %v", it.ID, err)
		}
	}
}

func TestOutageFaultyVolume(t *testing.T) {
	var f *hsm.Faulty
	h := backuptest.NewHarness(t, func(v hsm.Volume) hsm.Volume { f = hsm.NewFaulty(v); return f })
	deliverDuringOutage(t, h, func() { f.SetOutage(true) }, func() { f.SetOutage(false) })
	if f.Failures(hsm.OpAny) == 0 {
		t.Fatal("no call failed during the outage")
	}
}

func TestOutageRealS3(t *testing.T) {
	srv := s3test.StartServer(t)
	h := backuptest.NewHarness(t, func(hsm.Volume) hsm.Volume {
		o := srv.Options()
		o.Prefix = "server1"
		v, err := s3vol.New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
	deliverDuringOutage(t, h, srv.Stop, srv.Restart)

}

// TestOutageLogsOnce: an outage of many failed attempts is one error line
// when it starts and one info line when the repository answers again.
func TestOutageLogsOnce(t *testing.T) {
	var buf lockedLog
	var f *hsm.Faulty
	var h *backuptest.Harness
	func() {
		// The harness gives its scanner the package's logger.
		prev := backuptest.Quiet
		defer func() { backuptest.Quiet = prev }()
		backuptest.Quiet = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h = backuptest.NewHarness(t, func(v hsm.Volume) hsm.Volume { f = hsm.NewFaulty(v); return f })
	}()
	deliverDuringOutage(t, h, func() { f.SetOutage(true) }, func() {
		// Many attempts fail before the outage ends.
		for end := time.Now().Add(10 * time.Second); f.Failures(hsm.OpAny) < 10 && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
		f.SetOutage(false)
	})
	if n := f.Failures(hsm.OpAny); n < 10 {
		t.Fatalf("only %d failed calls", n)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		count[m["level"].(string)+" "+m["msg"].(string)]++
	}
	for k, want := range map[string]int{
		"ERROR backup: repository write failed; mail is still accepted and kept for the backup, retrying until it answers": 1,
		"INFO backup: repository reachable again": 1,
	} {
		if count[k] != want {
			t.Errorf("%d lines %q, want %d; all lines: %v", count[k], k, want, count)
		}
	}
	if count["DEBUG backup: repository write failed again"] == 0 {
		t.Errorf("the retries left no debug lines: %v", count)
	}
}

// lockedLog is a log buffer safe for the scanner's goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
