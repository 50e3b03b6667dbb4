package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// damageLastRedoRecord flips one payload byte of the last record in the
// active segment of a stopped server's redo log, as a bad sector would,
// and returns its LSN and type.
func damageLastRedoRecord(t *testing.T, dataDir string) (uint64, uint16) {
	t.Helper()
	logDir := filepath.Join(dataDir, "redolog")
	ents, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	var seg string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") && e.Name() > seg {
			seg = e.Name()
		}
	}
	path := filepath.Join(logDir, seg)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off, last := 24, -1
	var rec redolog.Record
	for off < len(b) {
		r, n, err := redolog.DecodeRecord(b[off:])
		if err != nil {
			t.Fatalf("%s offset %d: %v", path, off, err)
		}
		last, rec = off, r
		off += n
	}
	if last < 0 {
		t.Fatalf("active segment %s holds no record", path)
	}
	b[last+redolog.RecordOverhead+len(rec.Payload)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return rec.LSN, rec.Type
}

// serveMustFail starts the server and expects it to exit at once with an
// error, whose output it returns.
func serveMustFail(t *testing.T, bin, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", "--data", dir, "--lmtp", freePort(t), "--imap", freePort(t),
		"--imaps", "off").CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve on a damaged log: %v\n%s", err, out)
	}
	return string(out)
}

// checkMailbox checks that every acknowledged message is in the mailbox,
// byte for byte, and that it holds nothing else.
func checkMailbox(t *testing.T, box map[string][]byte, acked *sync.Map) {
	t.Helper()
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		id := k.(string)
		if got, ok := box[id]; !ok || !bytes.HasSuffix(got, drillMessage(id)) {
			t.Errorf("acknowledged message %s missing or changed (present %v)", id, ok)
		}
		return true
	})
	if len(box) != n {
		t.Errorf("mailbox holds %d messages, %d were acknowledged", len(box), n)
	}
}

// TestRedologRepairFromBackup: one flipped byte in the last redo record
// (a delivery the backup already holds) stops the server with a message
// naming the repair command; the repair restores the record from the
// repository and the server starts with all its mail, the backup level
// and the log and repository sound.
func TestRedologRepairFromBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	var acked sync.Map
	s := startServer(t, bin, dir)
	deliverN(t, s.lmtp, "r", 10, &acked)
	waitShipped(t, bin, dir, 10)
	s.stop(t)

	lsn, typ := damageLastRedoRecord(t, dir)
	if event.Type(typ) != event.TypeMessageAdded {
		t.Fatalf("last record is of type %d, not a delivery", typ)
	}
	out := serveMustFail(t, bin, dir)
	for _, want := range []string{fmt.Sprintf("ends at lsn %d", lsn-1), fmt.Sprintf("up to lsn %d", lsn),
		"tidemark redolog repair --data " + dir} {
		if !strings.Contains(out, want) {
			t.Fatalf("start error does not say %q:\n%s", want, out)
		}
	}

	out = tm(t, bin, "redolog", "repair", "--data", dir)
	if !strings.Contains(out, fmt.Sprintf("restored lsn %d..%d (1 records)", lsn, lsn)) {
		t.Fatalf("repair:\n%s", out)
	}
	out = tm(t, bin, "redolog", "verify", filepath.Join(dir, "redolog"))
	if !strings.HasSuffix(out, "ok\n") || strings.Contains(out, "gap") || !strings.Contains(out, fmt.Sprintf("..%d", lsn)) {
		t.Fatalf("verify after repair:\n%s", out)
	}

	s = startServer(t, bin, dir)
	checkMailbox(t, mailbox(t, s.imap), &acked)
	deliverN(t, s.lmtp, "after", 3, &acked)
	st := waitShipped(t, bin, dir, 13)
	box := mailbox(t, s.imap)
	s.stop(t)
	checkMailbox(t, box, &acked)
	if st.ShippedLSN < lsn+3 {
		t.Fatalf("backup level at lsn %d, before the new deliveries", st.ShippedLSN)
	}
	if out := tm(t, bin, "backup", "verify", "--read-data", "--data", dir); !strings.Contains(out, "no problems found") {
		t.Fatalf("backup verify after repair:\n%s", out)
	}
}

// TestRedologRepairAcceptGap: the damaged last record was delivered while
// the backup was off, so the repository does not hold it. repair refuses
// and says why and what to do; with --accept-gap the server starts with
// every message, new mail is acknowledged and backed up, the scanner runs
// a SmartScan at the gap, and a server rebuilt from the repository holds
// every message.
func TestRedologRepairAcceptGap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	top := t.TempDir()
	dir := filepath.Join(top, "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	var acked sync.Map
	s := startServer(t, bin, dir)
	deliverN(t, s.lmtp, "a", 5, &acked)
	waitShipped(t, bin, dir, 5)
	s.stop(t)
	s = startServer(t, bin, dir, "--no-backup")
	deliverN(t, s.lmtp, "b", 5, &acked)
	s.stop(t)

	lsn, _ := damageLastRedoRecord(t, dir)
	if out := serveMustFail(t, bin, dir); !strings.Contains(out, "tidemark redolog repair --data "+dir) {
		t.Fatalf("start error does not name the repair command:\n%s", out)
	}
	out, err := exec.Command(bin, "redolog", "repair", "--data", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("does not hold lsn %d", lsn)) ||
		!strings.Contains(string(out), "Nothing was changed") || !strings.Contains(string(out), "--accept-gap") {
		t.Fatalf("repair without the records in the backup: %v\n%s", err, out)
	}
	serveMustFail(t, bin, dir)

	out2 := tm(t, bin, "redolog", "repair", "--data", dir, "--accept-gap")
	if !strings.Contains(out2, fmt.Sprintf("recorded a gap in the redo log: lsn %d..%d", lsn, lsn)) {
		t.Fatalf("repair --accept-gap:\n%s", out2)
	}
	logDir := filepath.Join(dir, "redolog")
	if out := tm(t, bin, "redolog", "verify", logDir); !strings.HasSuffix(out, "ok\n") ||
		!strings.Contains(out, fmt.Sprintf("gap:      lsn %d..%d not held", lsn, lsn)) {
		t.Fatalf("verify after the gap:\n%s", out)
	}
	if out := tm(t, bin, "redolog", "dump", logDir, "--from", fmt.Sprint(lsn-1)); !strings.Contains(out, fmt.Sprintf("%d..%d\t", lsn, lsn)) ||
		!strings.Contains(out, "GAP") {
		t.Fatalf("dump does not show the gap:\n%s", out)
	}

	s = startServer(t, bin, dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
	checkMailbox(t, mailbox(t, s.imap), &acked)
	if st := waitShipped(t, bin, dir, 10); st.ShippedLSN < lsn {
		t.Fatalf("backup level at lsn %d, before the gap at %d", st.ShippedLSN, lsn)
	}
	s.stop(t)
	if !strings.Contains(s.log.String(), "running a SmartScan") || !strings.Contains(s.log.String(), "gap") {
		t.Fatalf("the scanner did not report the gap and its SmartScan:\n%s", s.log)
	}
	// Restarted with the SmartScan the newest thing in the repository, the
	// server still owns it (the history check steps over the gap) and
	// ships new mail.
	s = startServer(t, bin, dir)
	deliverN(t, s.lmtp, "c", 5, &acked)
	st := waitShipped(t, bin, dir, 15)
	box := mailbox(t, s.imap)
	s.stop(t)
	checkMailbox(t, box, &acked)
	if st.ShippedLSN < lsn+5 {
		t.Fatalf("backup level at lsn %d, before the deliveries after the gap", st.ShippedLSN)
	}
	if out := tm(t, bin, "backup", "verify", "--read-data", "--data", dir); !strings.Contains(out, "no problems found") {
		t.Fatalf("backup verify after the gap:\n%s", out)
	}

	// The repository alone gives every message back, the lost record's
	// from the SmartScan: a whole server rebuilt from it, and an account
	// restore.
	rebuilt := filepath.Join(top, "rebuilt")
	tm(t, bin, "restore", "server", "--from", filepath.Join(top, "tidemark-backup"), "--data", rebuilt)
	r := startServer(t, bin, rebuilt, "--no-backup")
	checkMailbox(t, mailbox(t, r.imap), &acked)
	r.stop(t)
	tm(t, bin, "restore", "account", "alice@example.org", "--at", "last", "--into", "alice2@example.org", "--data", dir)
	s = startServer(t, bin, dir, "--no-backup")
	defer s.stop(t)
	checkMailbox(t, mailboxOf(t, s.imap, "alice2@example.org", "pw"), &acked)
}

// TestRedologRepairUnreadableRepository: a repository that cannot be read
// is not taken for one that lacks the records: repair refuses naming it,
// and --accept-gap keeps that reason with the gap.
func TestRedologRepairUnreadableRepository(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "init", "--data", dir)
	mustRun(t, "domain", "create", "example.org", "--data", dir)
	mustRun(t, "domain", "create", "example.net", "--data", dir)
	lsn, _ := damageLastRedoRecord(t, dir)
	// The repository's path holds a file, not a repository.
	bad := filepath.Join(filepath.Dir(dir), "not-a-repository")
	if err := os.WriteFile(bad, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.Replace(string(raw), `repository = "../tidemark-backup"`, `repository = "`+bad+`"`, 1))
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "redolog", "repair", "--data", dir)
	if err == nil || !strings.Contains(err.Error(), bad+" could not be read") || !strings.Contains(err.Error(), "Nothing was changed") {
		t.Fatalf("repair with an unreadable repository: %v", err)
	}
	if _, err := run(t, "redolog", "repair", "--data", dir, "--reason", strings.Repeat("x", 5000)); exitCode(err) != exitUsage {
		t.Fatalf("an oversized --reason: %v", err)
	}
	out := mustRun(t, "redolog", "repair", "--data", dir, "--accept-gap")
	if !strings.Contains(out, fmt.Sprintf("lsn %d..%d", lsn, lsn)) || !strings.Contains(out, "could not be read") {
		t.Fatalf("repair --accept-gap:\n%s", out)
	}
	if out := mustRun(t, "domain", "list", "--data", dir); !strings.Contains(out, "example.net") {
		t.Fatalf("the lost record's domain is gone from the mailbox:\n%s", out)
	}
}

// TestRedologRepairRefusesForeignRepository: a repository owned by another
// server history holds records that are not this log's; repair must not
// write them back, even when their LSNs fit the hole.
func TestRedologRepairRefusesForeignRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	var acked sync.Map
	s := startServer(t, bin, dir)
	deliverN(t, s.lmtp, "f", 5, &acked)
	waitShipped(t, bin, dir, 5)
	s.stop(t)
	damageLastRedoRecord(t, dir)

	// The data directory now claims to be another server, as a copy of
	// another machine's directory would.
	idPath := filepath.Join(dir, identityFile)
	raw, err := os.ReadFile(idPath)
	if err != nil {
		t.Fatal(err)
	}
	id, err := readIdentity(dir)
	if err != nil || id.Server == "" {
		t.Fatalf("identity: %+v %v", id, err)
	}
	raw = []byte(strings.Replace(string(raw), id.Server, strings.Repeat("0", len(id.Server)), 1))
	if err := os.WriteFile(idPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "redolog", "repair", "--data", dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "belongs to another server history") || !strings.Contains(string(out), "Nothing was changed") {
		t.Fatalf("repair from another server's repository: %v\n%s", err, out)
	}
}
