package scanner_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/redolog"
)

// lockedBuffer is a log sink the scanner's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestScannerGapWithoutAccounts: a redo log with a recorded gap on a server
// that has no account yet. The SmartScan the gap calls for finds no account
// to compare, and must still move the scanner past the gap instead of
// asking for the lost records again and again.
func TestScannerGapWithoutAccounts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	eo := func() *engine.Options { return &engine.Options{Logger: backuptest.Quiet, CheckpointInterval: -1} }
	eng, err := engine.Open(data, eo())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a.example", "b.example", "c.example"} {
		if err := eng.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	applied := eng.AppliedLSN()
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	// One bad byte in the last record: cut on open, applied already.
	logDir := filepath.Join(data, engine.RedoDir)
	ents, _ := os.ReadDir(logDir)
	var seg string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") && e.Name() > seg {
			seg = e.Name()
		}
	}
	b, err := os.ReadFile(filepath.Join(logDir, seg))
	if err != nil {
		t.Fatal(err)
	}
	off, last := 24, 0
	for off < len(b) {
		_, n, err := redolog.DecodeRecord(b[off:])
		if err != nil {
			t.Fatal(err)
		}
		last, off = off, off+n
	}
	b[last+redolog.RecordOverhead] ^= 0x01
	if err := os.WriteFile(filepath.Join(logDir, seg), b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := engine.RepairLog(ctx, data, eo(), engine.RepairOptions{AcceptGap: true})
	if err != nil || rep.Gap == nil || rep.Gap.To != applied {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	eng, err = engine.Open(data, eo())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()

	vol, err := localvol.New(vfs.Default, filepath.Join(dir, "repo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Init(ctx, vol, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(filepath.Join(data, "backup-catalog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	var logged lockedBuffer
	src := enginesrc.New(eng)
	sc, err := scanner.New(repo, cat, enginesrc.New(eng), src, src, &scanner.Options{
		ShipInterval: 2 * time.Millisecond, NoCompaction: true, SnapshotInterval: -1,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logged, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sc.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("scanner: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for sc.Live().ShippedLSN < applied {
		if time.Now().After(deadline) {
			t.Fatalf("scanner stuck at lsn %d before the gap ending at %d; %d SmartScans asked for",
				sc.Live().ShippedLSN, applied, strings.Count(logged.String(), "running a SmartScan"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(logged.String(), "running a SmartScan"); n != 1 {
		t.Fatalf("%d SmartScans for one gap:\n%s", n, logged.String())
	}
}
