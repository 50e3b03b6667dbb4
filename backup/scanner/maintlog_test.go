package scanner_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/hsm"
)

// syncBuffer is a log sink safe for the scanner's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMaintenanceFailuresRateLimited: during a repository outage the
// maintenance pass (every 10 ms here) fails each time; the log gets the
// first failure and every tenth in a row, not one line a pass, and one
// line when compaction works again.
func TestMaintenanceFailuresRateLimited(t *testing.T) {
	var f *hsm.Faulty
	h := backuptest.NewHarness(t, func(v hsm.Volume) hsm.Volume { f = hsm.NewFaulty(v); return f })
	h.Stop()
	cat, err := catalog.Open(filepath.Join(h.Dir, "data", "backup-catalog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	var logs syncBuffer
	src := enginesrc.New(h.Eng)
	sc, err := scanner.New(h.Repo, cat, enginesrc.New(h.Eng), src, src, &scanner.Options{
		Now: h.Clk.Now, CompactLevels: []time.Duration{40 * time.Millisecond}, SnapshotInterval: -1,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.SetOutage(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("scanner: %v", err)
		}
	}()
	// Wait for at least 60 failed passes (each lists log/ once per level).
	deadline := time.Now().Add(30 * time.Second)
	for f.Failures(hsm.OpList) < 60 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d failed listings in 30 s", f.Failures(hsm.OpList))
		}
		time.Sleep(10 * time.Millisecond)
	}
	passes := f.Failures(hsm.OpList)
	lines := strings.Count(logs.String(), "compaction failed")
	if lines == 0 || lines > 2+passes/10 {
		t.Fatalf("%d failed maintenance passes logged %d compaction failures:\n%s", passes, lines, logs.String())
	}
	f.SetOutage(false)
	for !strings.Contains(logs.String(), "compaction works again") {
		if time.Now().After(deadline) {
			t.Fatalf("no line says compaction works again:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
