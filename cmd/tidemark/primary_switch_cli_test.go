package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// appendMessage is an IMAP APPEND test message over the inline limit
// (64 KiB), so it is written to the primary before its record.
func appendMessage(id string) []byte {
	return []byte("From: bob@example.org\r\nTo: alice@example.org\r\nSubject: append " + id +
		"\r\nMessage-ID: <" + id + "@append>\r\n\r\n" + strings.Repeat(id+" large body line\r\n", 70*1024/(len(id)+19)+1))
}

// appendLoop appends messages over one IMAP connection until stop is
// closed, and records each one the server acknowledged.
func appendLoop(t *testing.T, addr, prefix string, stop <-chan struct{}, acked *sync.Map, n *atomic.Int64) {
	appendUntil(t, addr, prefix, stop, acked, n, false)
}

// appendUntil is appendLoop; with killed, a failure (the server was
// killed) ends the loop without failing the test.
func appendUntil(t *testing.T, addr, prefix string, stop <-chan struct{}, acked *sync.Map, n *atomic.Int64, killed bool) {
	fail := t.Errorf
	if killed {
		fail = func(string, ...any) {}
	}
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		fail("dial: %v", err)
		return
	}
	defer c.Close()
	if err := c.Login("alice@example.org", "pw").Wait(); err != nil {
		fail("login: %v", err)
		return
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		id := fmt.Sprintf("%s-%d", prefix, i)
		body := appendMessage(id)
		cmd := c.Append("INBOX", int64(len(body)), nil)
		if _, err := cmd.Write(body); err != nil {
			fail("append %s: %v", id, err)
			return
		}
		if err := cmd.Close(); err != nil {
			fail("append %s: %v", id, err)
			return
		}
		if _, err := cmd.Wait(); err != nil {
			fail("append %s: %v", id, err)
			return
		}
		acked.Store(id, body)
		n.Add(1)
	}
}

// TestSetCurrentPrimaryLiveServer: on a running server, with LMTP
// deliveries (inline blobs) and IMAP APPENDs (blob-first) going on,
// `volume set-current` makes another volume the primary at once: mail
// from before and after the switch is fetched byte for byte, new blobs are
// on the new volume, hsm check finds every blob where the state says, and
// after a restart the new primary stays current.
func TestSetCurrentPrimaryLiveServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	s := startServer(t, bin, dir, "--no-backup")
	defer func() { s.stop(t) }()

	var lmtpAcked, appended sync.Map
	deliverN(t, s.lmtp, "pre", 20, &lmtpAcked)
	tm(t, bin, "volume", "create", "fast2", "--kind", "primary", "--compress", "--threshold", "1024", "--data", dir)

	// Deliveries and APPENDs run across the switch.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var nAppended atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			appendLoop(t, s.imap, fmt.Sprintf("ap%d", w), stop, &appended, &nAppended)
		}()
	}
	var lmtpLive sync.Map
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			deliverLimit(s.lmtp, fmt.Sprintf("live%d", i), 5, &lmtpLive)
		}
	}()
	waitFor := func(n int64) {
		for deadline := time.Now().Add(60 * time.Second); nAppended.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d APPENDs acknowledged", nAppended.Load())
			}
		}
	}
	waitFor(6)
	out := tm(t, bin, "volume", "set-current", "fast2", "--data", dir)
	if !strings.Contains(out, "new blobs go to it now") {
		t.Fatalf("set-current:\n%s", out)
	}
	atSwitch := nAppended.Load()
	waitFor(atSwitch + 6)
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	deliverN(t, s.lmtp, "post", 20, &lmtpAcked)
	lmtpLive.Range(func(k, v any) bool { lmtpAcked.Store(k, v); return true })

	// Every message fetched whole; the APPENDed ones byte for byte as sent,
	// the delivered ones ending with the message sent.
	check := func(when string) map[string][]byte {
		t.Helper()
		box := mailbox(t, s.imap)
		n := 0
		appended.Range(func(k, v any) bool {
			n++
			if got := box[k.(string)]; !bytes.Equal(got, v.([]byte)) {
				t.Fatalf("%s: APPENDed %s fetched as %d bytes, sent %d", when, k, len(got), len(v.([]byte)))
			}
			return true
		})
		lmtpAcked.Range(func(k, _ any) bool {
			n++
			if got := box[k.(string)]; !bytes.HasSuffix(got, drillMessage(k.(string))) {
				t.Fatalf("%s: delivered %s fetched as %q", when, k, got)
			}
			return true
		})
		if len(box) != n {
			t.Fatalf("%s: mailbox has %d messages, %d acknowledged", when, len(box), n)
		}
		return box
	}
	box := check("after the switch")
	st := volumeStats(t, bin, dir)
	total := int64(len(box))
	if st["primary"].Blobs+st["fast2"].Blobs != total || st["primary"].Blobs < 20+6 || st["fast2"].Blobs < 20+6 {
		t.Fatalf("%d messages; stats after the switch: %+v", total, st)
	}
	if c := tm(t, bin, "hsm", "check", "--sync", "--data", dir); !strings.Contains(c, fmt.Sprintf("checked %d blob(s)", total)) || !strings.Contains(c, "0 missing, 0 corrupt") {
		t.Fatalf("check after the switch:\n%s", c)
	}
	t.Logf("%d messages (%d APPENDs, %d at the switch); primary %d blobs, fast2 %d blobs (%d stored bytes of %d)",
		total, nAppended.Load(), atSwitch, st["primary"].Blobs, st["fast2"].Blobs, st["fast2"].StoredBytes, st["fast2"].Bytes)

	s.stop(t)
	s = startServer(t, bin, dir, "--no-backup")
	if out := tm(t, bin, "volume", "list", "--data", dir); !strings.Contains(out, "fast2    primary  local  yes") {
		t.Fatalf("volume list after the restart:\n%s", out)
	}
	check("after the restart")
	deliverN(t, s.lmtp, "restarted", 5, &lmtpAcked)
	check("after delivering again")
	st2 := volumeStats(t, bin, dir)
	if st2["fast2"].Blobs != st["fast2"].Blobs+5 || st2["primary"].Blobs != st["primary"].Blobs {
		t.Fatalf("after the restart new mail goes to fast2: before %+v, after %+v", st, st2)
	}
	if out, code := tmRun(t, bin, "volume", "delete", "primary", "--data", dir); code == 0 || !strings.Contains(out, "still holds") {
		t.Fatalf("delete of the old primary holding blobs: exit %d\n%s", code, out)
	}
}

// TestSetCurrentPrimaryKill: the server is killed (SIGKILL) right after a
// switch of the primary, with IMAP APPENDs and LMTP deliveries under way:
// after the restart every acknowledged message is there byte for byte,
// every blob is whole where the state says, and the new primary is
// current and receives new mail.
func TestSetCurrentPrimaryKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	s := startServer(t, bin, dir, "--no-backup")
	tm(t, bin, "volume", "create", "fast2", "--kind", "primary", "--data", dir)

	var lmtpAcked, appended sync.Map
	var nAppended atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			appendUntil(t, s.imap, fmt.Sprintf("k%d", w), stop, &appended, &nAppended, true)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		deliver(s.lmtp, "kl", &lmtpAcked) // until the connection fails
	}()
	for deadline := time.Now().Add(60 * time.Second); nAppended.Load() < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d APPENDs acknowledged", nAppended.Load())
		}
	}
	tm(t, bin, "volume", "set-current", "fast2", "--data", dir)
	at := nAppended.Load()
	for deadline := time.Now().Add(60 * time.Second); nAppended.Load() < at+3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d APPENDs acknowledged", nAppended.Load())
		}
	}
	s.kill(t)
	close(stop)
	wg.Wait()

	s = startServer(t, bin, dir, "--no-backup")
	defer func() { s.stop(t) }()
	box := mailbox(t, s.imap)
	n := 0
	appended.Range(func(k, v any) bool {
		n++
		if got := box[k.(string)]; !bytes.Equal(got, v.([]byte)) {
			t.Fatalf("acknowledged APPEND %s fetched as %d bytes after the kill, sent %d", k, len(got), len(v.([]byte)))
		}
		return true
	})
	lmtpAcked.Range(func(k, _ any) bool {
		n++
		if got := box[k.(string)]; !bytes.HasSuffix(got, drillMessage(k.(string))) {
			t.Fatalf("acknowledged delivery %s lost or damaged after the kill", k)
		}
		return true
	})
	if len(box) < n {
		t.Fatalf("%d messages after the kill, %d acknowledged", len(box), n)
	}
	if out := tm(t, bin, "volume", "list", "--data", dir); !strings.Contains(out, "fast2    primary  local  yes") {
		t.Fatalf("volume list after the kill:\n%s", out)
	}
	if c := tm(t, bin, "hsm", "check", "--sync", "--data", dir); !strings.Contains(c, "0 missing, 0 corrupt") {
		t.Fatalf("check after the kill:\n%s", c)
	}
	st := volumeStats(t, bin, dir)
	deliverN(t, s.lmtp, "again", 3, &lmtpAcked)
	if st2 := volumeStats(t, bin, dir); st2["fast2"].Blobs != st["fast2"].Blobs+3 {
		t.Fatalf("new mail after the kill not on fast2: %+v then %+v", st, st2)
	}
	t.Logf("%d messages acknowledged before the kill (%d APPENDs, %d at the switch); %d in the mailbox; primary %d blobs, fast2 %d",
		n, nAppended.Load(), at, len(box), st["primary"].Blobs, st["fast2"].Blobs)
}
