package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/operations"
)

// tmRun runs the binary and returns its combined output and exit code.
func tmRun(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("tidemark %s: %v", strings.Join(args, " "), err)
	return "", 0
}

var queuedRe = regexp.MustCompile(`operation (\d+) queued`)

// submitID submits an operation to the running server and returns its id.
func submitID(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	out := tm(t, bin, append(append([]string{"op", "submit"}, args...), "--data", dir)...)
	m := queuedRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no operation id in:\n%s", out)
	}
	return m[1]
}

func showOp(t *testing.T, bin, dir, id string) operations.Operation {
	t.Helper()
	var op operations.Operation
	out := tm(t, bin, "op", "show", id, "--json", "--data", dir)
	if err := json.Unmarshal([]byte(out), &op); err != nil {
		t.Fatalf("op show --json: %v\n%s", err, out)
	}
	return op
}

// waitState polls until operation id is in state st.
func waitState(t *testing.T, bin, dir, id string, st operations.State) operations.Operation {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var op operations.Operation
		out, code := tmRun(t, bin, "op", "show", id, "--json", "--data", dir) // not found until submitted
		if code == 0 && json.Unmarshal([]byte(out), &op) == nil && op.State == st {
			return op
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s is not %s: %s", id, st, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// background starts the binary and returns a function that waits for its
// exit code and output.
func background(t *testing.T, bin string, args ...string) (*exec.Cmd, func() (string, int)) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, func() (string, int) {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("tidemark %s did not exit\n%s", strings.Join(args, " "), out.String())
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}
}

// TestOperationsCLI drives the operations through the real binary: submit
// to a running server, op list/show/watch/stop, the --sync exit codes,
// Ctrl-C detaching from --sync, a kill -9 leaving an operation interrupted
// and its rerun, the notification mail in the administrator's INBOX, and
// the same commands with no server.
func TestOperationsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	cfgPath := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil || !bytes.Contains(raw, []byte("admins = []")) {
		t.Fatalf("init wrote no [notify] admins: %v\n%s", err, raw)
	}
	raw = bytes.Replace(raw, []byte("admins = []"), []byte(`admins = ["admin@example.org"]`), 1)
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "admin@example.org", "--password", "pw", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)

	// No server: the job runs in this process, to its end.
	out, code := tmRun(t, bin, "op", "submit", "backup.scan", "--sync", "--data", dir)
	if code != 0 || !strings.Contains(out, "operation 1 (backup.scan): done") || !strings.Contains(out, "scanned 2 accounts") {
		t.Fatalf("in-process scan: exit %d\n%s", code, out)
	}

	srv := startServer(t, bin, dir)
	defer func() { srv.stop(t) }()
	// The server opens its (encrypted: an Argon2id derivation) repository
	// after it listens; operations need it.
	waitShipped(t, bin, dir, 0)

	if out := tm(t, bin, "schedule", "show", "--data", dir); !strings.Contains(out, "daily 02:00") ||
		!strings.Contains(out, "weekly sunday 03:00") || strings.Contains(out, "no server runs") {
		t.Fatalf("schedule show:\n%s", out)
	}

	// Submit, then watch to the end.
	id := submitID(t, bin, dir, "backup.scan", "--params", `{"account":"alice@example.org"}`)
	out, code = tmRun(t, bin, "op", "watch", id, "--data", dir)
	if code != 0 || !strings.Contains(out, "scanned 1 accounts") {
		t.Fatalf("watch: exit %d\n%s", code, out)
	}
	var list opsList
	if err := json.Unmarshal([]byte(tm(t, bin, "op", "list", "--json", "--data", dir)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Operations) != 2 || list.Operations[1].State != operations.Done || list.Operations[0].State != operations.Done {
		t.Fatalf("op list: %+v", list.Operations)
	}
	if op := showOp(t, bin, dir, id); op.Kind != "backup.scan" || len(op.Report) == 0 || op.Started.IsZero() {
		t.Fatalf("op show: %+v", op)
	}

	// --sync exit codes: done 0; failed 1, or the class of its error (7 not found).
	if out, code := tmRun(t, bin, "op", "submit", "backup.scan", "--sync", "--data", dir); code != 0 {
		t.Fatalf("--sync done: exit %d\n%s", code, out)
	}
	out, code = tmRun(t, bin, "op", "submit", "backup.scan", "--params", `{"account":"ghost@example.org"}`, "--sync", "--data", dir)
	if code != exitNotFound || !strings.Contains(out, "failed") || !strings.Contains(out, "ghost@example.org") {
		t.Fatalf("--sync failed: exit %d\n%s", code, out)
	}
	if out, code := tmRun(t, bin, "op", "submit", "no.such.kind", "--data", dir); code != 1 || !strings.Contains(out, "unknown kind") {
		t.Fatalf("unknown kind: exit %d\n%s", code, out)
	}

	// Stopped: 2. The queue is held so the operation stays queued.
	tm(t, bin, "op", "pause", "--data", dir)
	_, waitSync := background(t, bin, "op", "submit", "backup.scan", "--sync", "--data", dir)
	stopID := fmt.Sprint(len(list.Operations) + 3)
	waitState(t, bin, dir, stopID, operations.Queued)
	if out := tm(t, bin, "op", "list", "--data", dir); !strings.Contains(out, "held queues: backup") {
		t.Fatalf("op list does not show the held queue:\n%s", out)
	}
	if out := tm(t, bin, "op", "stop", stopID, "--data", dir); !strings.Contains(out, "stopped") {
		t.Fatalf("op stop:\n%s", out)
	}
	if out, code := waitSync(); code != 2 || !strings.Contains(out, "stopped") {
		t.Fatalf("--sync stopped: exit %d\n%s", code, out)
	}
	if out, code := tmRun(t, bin, "op", "stop", stopID, "--data", dir); code != 1 || !strings.Contains(out, "already ended") {
		t.Fatalf("second stop: exit %d\n%s", code, out)
	}

	// Ctrl-C on --sync detaches: the operation stays queued on the server.
	cmd, waitDetach := background(t, bin, "op", "submit", "backup.purge", "--sync", "--data", dir)
	purgeID := fmt.Sprint(len(list.Operations) + 4)
	waitState(t, bin, dir, purgeID, operations.Queued)
	time.Sleep(100 * time.Millisecond) // let it reach the watch
	cmd.Process.Signal(syscall.SIGINT)
	if out, code := waitDetach(); code != 4 || !strings.Contains(out, "detached") || !strings.Contains(out, "tidemark op watch "+purgeID) {
		t.Fatalf("Ctrl-C on --sync: exit %d\n%s", code, out)
	}
	if op := showOp(t, bin, dir, purgeID); op.State != operations.Queued {
		t.Fatalf("detached operation is %s", op.State)
	}

	// kill -9 with the operation still queued: a watcher exits 4, and the
	// restarted server has it interrupted; a rerun completes.
	_, waitWatch := background(t, bin, "op", "watch", purgeID, "--data", dir)
	time.Sleep(200 * time.Millisecond)
	srv.kill(t)
	if out, code := waitWatch(); code != 4 || !strings.Contains(out, "interrupted") {
		t.Fatalf("watch across a crash: exit %d\n%s", code, out)
	}
	srv = startServer(t, bin, dir)
	waitShipped(t, bin, dir, 0)
	if op := showOp(t, bin, dir, purgeID); op.State != operations.Interrupted || op.Error == "" {
		t.Fatalf("after restart: %+v", op)
	}
	out, code = tmRun(t, bin, "op", "resubmit", purgeID, "--sync", "--data", dir)
	if code != 0 || !strings.Contains(out, "purged") || !strings.Contains(out, "repeats:   operation "+purgeID) {
		t.Fatalf("resubmit: exit %d\n%s", code, out)
	}

	// The administrator got a start and an end mail for each operation the
	// server ran, delivered like any mail.
	inbox := mailboxOf(t, srv.imap, "admin@example.org", "pw")
	for _, want := range []string{"op-" + id + "-started-", "op-" + id + "-ended-"} {
		found := false
		for k, body := range inbox {
			if strings.HasPrefix(k, want) {
				found = true
				if strings.HasSuffix(want, "ended-") && (!bytes.Contains(body, []byte("Subject: tidemark operation "+id+" done: backup.scan")) ||
					!bytes.Contains(body, []byte(`"Accounts": 1`))) {
					t.Errorf("end mail:\n%s", body)
				}
			}
		}
		if !found {
			t.Errorf("no mail %s* in the admin's INBOX (%d mails)", want, len(inbox))
		}
	}
	// The one interrupted by the crash is reported when the server comes back.
	found := false
	for k, body := range inbox {
		if strings.HasPrefix(k, "op-"+purgeID+"-ended-") && bytes.Contains(body, []byte("ended: interrupted")) {
			found = true
		}
	}
	if !found {
		t.Errorf("no interrupted mail for operation %s\n%s", purgeID, srv.log)
	}
	srv.stop(t)

	// No server again: list and show read the directory.
	if out := tm(t, bin, "op", "list", "--data", dir); !strings.Contains(out, "interrupted") {
		t.Fatalf("op list without a server:\n%s", out)
	}
	if out, code := tmRun(t, bin, "op", "stop", id, "--data", dir); code != 1 || !strings.Contains(out, "no server runs") {
		t.Fatalf("op stop without a server: exit %d\n%s", code, out)
	}
	srv = startServer(t, bin, dir) // for the deferred stop
}
