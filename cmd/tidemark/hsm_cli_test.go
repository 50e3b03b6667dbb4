package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
)

// checkFetched fetches alice's INBOX over IMAP and compares every message
// byte for byte with want (Message-ID to bytes, as fetched from the
// primary before any move).
func checkFetched(t *testing.T, addr string, want map[string][]byte) {
	t.Helper()
	box := mailbox(t, addr)
	for id, w := range want {
		if got, ok := box[id]; !ok || !bytes.Equal(got, w) {
			t.Fatalf("message %s: fetched %d bytes, not the %d stored", id, len(got), len(w))
		}
	}
	if len(box) != len(want) {
		t.Fatalf("mailbox has %d messages, want %d", len(box), len(want))
	}
}

func volumeStats(t *testing.T, bin, dir string) map[string]engine.VolumeStats {
	t.Helper()
	var st []engine.VolumeStats
	out := tm(t, bin, "volume", "stats", "--json", "--data", dir)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("volume stats --json: %v\n%s", err, out)
	}
	m := map[string]engine.VolumeStats{}
	for _, s := range st {
		m[s.Name] = s
	}
	return m
}

// TestHSMLocalSecondaryCLI: on a live server, a local secondary volume is
// created and made current, the policy set, and hsm move --sync moves the
// mail there; IMAP FETCH gives every message byte for byte before and
// after a restart; hsm check finds nothing; a bad policy is refused with
// its position.
func TestHSMLocalSecondaryCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	s := startServer(t, bin, dir, "--no-backup")
	defer s.stop(t)
	var acked sync.Map
	deliverN(t, s.lmtp, "hsm", 12, &acked)
	stored := mailbox(t, s.imap)

	if out := tm(t, bin, "volume", "list", "--data", dir); !strings.Contains(out, "primary  primary  local  yes") {
		t.Fatalf("volume list:\n%s", out)
	}
	tm(t, bin, "volume", "create", "cold", "--kind", "secondary", "--compress", "--threshold", "100", "--data", dir)
	tm(t, bin, "volume", "set-current", "cold", "--data", dir)
	out, code := tmRun(t, bin, "hsm", "policy", "set", "message:in:INBOX before:-1dya", "--data", dir)
	if code != exitUsage || !strings.Contains(out, "policy line 1, column 25") {
		t.Fatalf("bad policy: exit %d\n%s", code, out)
	}
	if out := tm(t, bin, "hsm", "policy", "show", "--data", dir); !strings.Contains(out, "message,document:before:-30day") || !strings.Contains(out, "default") {
		t.Fatalf("default policy:\n%s", out)
	}
	tm(t, bin, "hsm", "policy", "set", "message:in:INBOX larger:1MB", "--data", dir)
	tm(t, bin, "hsm", "policy", "add", "message:in:INBOX after:2000-01-01", "--data", dir)
	tm(t, bin, "hsm", "policy", "remove", "1", "--data", dir)
	if out := tm(t, bin, "hsm", "policy", "show", "--data", dir); strings.TrimSpace(out) != "1  message:in:INBOX after:2000-01-01" {
		t.Fatalf("policy after set, add, remove:\n%s", out)
	}

	dry := tm(t, bin, "hsm", "move", "--dry-run", "--sync", "--data", dir)
	if !strings.Contains(dry, "would move 12 blob(s)") {
		t.Fatalf("dry run:\n%s", dry)
	}
	if st := volumeStats(t, bin, dir); st["primary"].Blobs != 12 || st["cold"].Blobs != 0 {
		t.Fatalf("stats after the dry run: %+v", st)
	}
	rep := tm(t, bin, "hsm", "move", "--sync", "--data", dir)
	if !strings.Contains(rep, "moved 12 blob(s)") || !strings.Contains(rep, "from primary: 12 blob(s)") {
		t.Fatalf("move:\n%s", rep)
	}
	st := volumeStats(t, bin, dir)
	if st["cold"].Blobs != 12 || st["cold"].Objects != 12 || st["primary"].Blobs != 0 || st["cold"].StoredBytes >= st["cold"].Bytes {
		t.Fatalf("stats after the move (cold compresses): %+v", st)
	}
	checkFetched(t, s.imap, stored)
	if out := tm(t, bin, "hsm", "check", "--sync", "--data", dir); !strings.Contains(out, "checked 12 blob(s)") || !strings.Contains(out, "0 missing, 0 corrupt, 0 orphan(s)") {
		t.Fatalf("check:\n%s", out)
	}
	again := tm(t, bin, "hsm", "move", "--sync", "--data", dir)
	if !strings.Contains(again, "moved 0 blob(s)") || !strings.Contains(again, "12 already there") {
		t.Fatalf("second move:\n%s", again)
	}
	if out, code := tmRun(t, bin, "volume", "delete", "cold", "--data", dir); code == 0 || !strings.Contains(out, "still holds 12 blob(s)") {
		t.Fatalf("delete of a volume with blobs: exit %d\n%s", code, out)
	}

	// New mail still goes to the primary; after a restart the registry
	// opens cold again.
	deliverN(t, s.lmtp, "after", 3, &acked)
	stored = mailbox(t, s.imap)
	if len(stored) != 15 {
		t.Fatalf("%d messages", len(stored))
	}
	s.stop(t)
	s = startServer(t, bin, dir, "--no-backup")
	checkFetched(t, s.imap, stored)
	if st := volumeStats(t, bin, dir); st["primary"].Blobs != 3 || st["cold"].Blobs != 12 {
		t.Fatalf("stats after restart: %+v", st)
	}
	back := tm(t, bin, "hsm", "move-volume", "cold", "primary", "--sync", "--data", dir)
	if !strings.Contains(back, "moved 12 blob(s)") {
		t.Fatalf("move-volume:\n%s", back)
	}
	checkFetched(t, s.imap, stored)
}

// TestHSMS3VolumeCLI: an S3 secondary on a real S3 server (versitygw):
// test-s3 checks the bucket, moved mail is fetched over IMAP byte for byte
// from it; with S3 down a FETCH of a message there fails with a temporary
// error while mail on the primary is read and new mail delivered, a move
// fails cleanly, and once S3 is back a rerun completes.
func TestHSMS3VolumeCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	s3 := s3test.StartServer(t)
	o := s3.Options()
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	// No read cache: every FETCH of a message on S3 goes to the store
	// (the cache has its own tests in hsm/cachevol).
	cfgPath := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "s3_cache_bytes = 1073741824", "s3_cache_bytes = 0", 1)
	if cfg == string(raw) {
		t.Fatalf("no s3_cache_bytes in the configuration:\n%s", raw)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{awsAccessEnv + "=" + o.AccessKey, awsSecretEnv + "=" + o.SecretKey}
	env := append(os.Environ(), keys...)
	s := startServerEnv(t, bin, dir, env, "--no-backup")
	defer s.stop(t)
	var acked sync.Map
	deliverN(t, s.lmtp, "s3", 8, &acked)
	stored := mailbox(t, s.imap)

	s3args := []string{"--endpoint", o.Endpoint, "--bucket", o.Bucket, "--prefix", "mail"}
	out, code := tmRun(t, bin, append([]string{"volume", "test-s3", "--data", dir}, s3args...)...)
	if code == 0 || !strings.Contains(out, "AWS_ACCESS_KEY_ID") {
		t.Fatalf("test-s3 without keys: exit %d\n%s", code, out)
	}
	out, code = tmEnv(t, bin, keys, append([]string{"volume", "test-s3", "--data", dir}, s3args...)...)
	if code != 0 || !strings.Contains(out, "is usable") || strings.Contains(out, o.SecretKey) {
		t.Fatalf("test-s3:\n%s", out)
	}
	tm(t, bin, append([]string{"volume", "create", "s3cold", "--type", "s3", "--data", dir}, s3args...)...)
	tm(t, bin, "volume", "set-current", "s3cold", "--data", dir)
	tm(t, bin, "hsm", "policy", "set", "message:in:INBOX", "--data", dir)
	if rep := tm(t, bin, "hsm", "move", "--sync", "--data", dir); !strings.Contains(rep, "moved 8 blob(s)") {
		t.Fatalf("move to S3:\n%s", rep)
	}
	checkFetched(t, s.imap, stored)

	// S3 down: mail on S3 fails to read with a temporary error; mail goes on.
	// Until the move is checkpointed the old copies are still on the
	// primary, and a FETCH reads them from there (a blob's name is its
	// digest, so any copy is the message); the move asks for that
	// checkpoint, so within moments only S3 holds the eight.
	s3.Stop()
	deliverN(t, s.lmtp, "local", 2, &acked)
	var outage fetchResult
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		outage = fetchErrors(t, s.imap)
		if outage.failed+outage.ok != 10 {
			t.Fatalf("FETCH during the S3 outage: %d failed, %d ok of 10", outage.failed, outage.ok)
		}
		if outage.failed == 8 || time.Now().After(deadline) {
			break
		}
	}
	if outage.failed != 8 || outage.ok != 2 {
		t.Fatalf("FETCH during the S3 outage: %d failed, %d ok (want 8 and 2); last error %v", outage.failed, outage.ok, outage.last)
	}
	if rep, code := tmRun(t, bin, "hsm", "move", "--sync", "--data", dir); code == 0 || !strings.Contains(rep, "failed") {
		t.Fatalf("move during the outage: exit %d\n%s", code, rep)
	}
	s3.Restart()
	rep := tm(t, bin, "hsm", "move", "--sync", "--data", dir)
	if !strings.Contains(rep, "moved 2 blob(s)") || !strings.Contains(rep, "8 already there") {
		t.Fatalf("rerun after the outage:\n%s", rep)
	}
	if box := mailbox(t, s.imap); len(box) != 10 {
		t.Fatalf("%d messages after the outage", len(box))
	} else {
		for id, b := range stored {
			if !bytes.Equal(box[id], b) {
				t.Fatalf("message %s differs after the outage", id)
			}
		}
	}
	if st := volumeStats(t, bin, dir); st["s3cold"].Blobs != 10 || st["s3cold"].Objects != 10 {
		t.Fatalf("stats: %+v", st)
	}
}

type fetchResult struct {
	ok, failed int
	last       error
}

// fetchErrors fetches every INBOX message one by one and counts those
// that fail.
func fetchErrors(t *testing.T, addr string) fetchResult {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	var r fetchResult
	section := &imap.FetchItemBodySection{Peek: true}
	for i := uint32(1); i <= sel.NumMessages; i++ {
		_, err := c.Fetch(imap.SeqSetNum(i), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			r.failed++
			r.last = err
			continue
		}
		r.ok++
	}
	return r
}
