package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/operations"
)

// waitRunning polls until operation id runs and reports progress.
func waitRunning(t *testing.T, bin, dir, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, code := tmRun(t, bin, "op", "show", id, "--json", "--data", dir)
		if code == 0 && strings.Contains(out, `"state": "running"`) && !strings.Contains(out, `"items": 0,`) {
			return
		}
		if strings.Contains(out, `"state": "done"`) {
			t.Fatalf("operation %s ended before it could be interrupted; give it more to do:\n%s", id, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("operation %s never ran with progress", id)
}

// TestInterruptedOperationReruns imports an export into a fresh server as
// an operation, kills the server while it runs (the restarted server has
// it interrupted), stops its rerun while that runs (exit 2, a partial
// report), and reruns it to the end: every message once, none twice.
func TestInterruptedOperationReruns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	src := filepath.Join(top, "src", "data")
	tm(t, bin, "init", "--data", src)
	tm(t, bin, "domain", "create", "example.org", "--data", src)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", src)
	a := startServer(t, bin, src)
	const n = 4000
	var acked sync.Map
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); deliverN(t, a.lmtp, fmt.Sprintf("m%d", k), n/4, &acked) }()
	}
	wg.Wait()
	waitShipped(t, bin, src, n)
	export := filepath.Join(top, "export")
	if out, code := tmRun(t, bin, "backup", "export", export, "--sync", "--data", src); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	a.stop(t)

	dst := filepath.Join(top, "dst", "data")
	tm(t, bin, "init", "--data", dst)
	b := startServer(t, bin, dst)
	defer func() { b.stop(t) }()
	id := submitID(t, bin, dst, "restore.external", "--params", fmt.Sprintf(`{"source":%q}`, export))
	waitRunning(t, bin, dst, id)
	b.kill(t)
	b = startServer(t, bin, dst)
	if op := showOp(t, bin, dst, id); op.State != operations.Interrupted {
		t.Fatalf("after kill -9 and restart: %+v", op)
	}

	// Rerun, and stop the rerun while it runs.
	_, waitSync := background(t, bin, "op", "resubmit", id, "--sync", "--data", dst)
	var rerun string
	deadline := time.Now().Add(30 * time.Second)
	for rerun == "" && time.Now().Before(deadline) {
		var l opsList
		if out, code := tmRun(t, bin, "op", "list", "--json", "--data", dst); code == 0 {
			_ = jsonUnmarshal(out, &l)
		}
		for _, op := range l.Operations {
			if fmt.Sprint(op.ResubmitOf) == id {
				rerun = fmt.Sprint(op.ID)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rerun == "" {
		t.Fatal("the resubmitted operation never appeared")
	}
	waitRunning(t, bin, dst, rerun)
	tm(t, bin, "op", "stop", rerun, "--data", dst)
	if out, code := waitSync(); code != exitStopped || !strings.Contains(out, "stopped") {
		t.Fatalf("--sync of the stopped rerun: exit %d\n%s", code, out)
	}
	if op := showOp(t, bin, dst, rerun); op.State != operations.Stopped || len(op.Report) == 0 {
		t.Fatalf("stopped rerun: %+v", op)
	}

	// To the end: every acknowledged message once.
	if out, code := tmRun(t, bin, "op", "resubmit", rerun, "--sync", "--data", dst); code != 0 {
		t.Fatalf("final rerun: exit %d\n%s", code, out)
	}
	box := mailboxOf(t, b.imap, "alice@example.org", "pw") // fails on a duplicate
	if len(box) != n {
		t.Fatalf("the import holds %d messages, want %d", len(box), n)
	}
	acked.Range(func(k, _ any) bool {
		if _, ok := box[k.(string)]; !ok {
			t.Errorf("message %s missing after the reruns", k)
		}
		return true
	})
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
