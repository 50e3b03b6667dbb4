package lmtp

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine/event"
)

// requireTool returns the path of a real third-party client, skipping the
// test when it is missing unless TIDEMARK_REQUIRE_CLIENTS=1 (CI), where a
// missing client is a failure.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TIDEMARK_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("%s required (TIDEMARK_REQUIRE_CLIENTS=1) but not installed: apt-get install %s", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s); set TIDEMARK_REQUIRE_CLIENTS=1 to make this a failure", name, pkg)
	}
	return p
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// pythonLMTP delivers with the standard library's smtplib.LMTP: one
// recipient is accepted, one refused at RCPT (smtplib reads a single DATA
// reply, so a transaction with two accepted recipients would desync it).
const pythonLMTP = `
import json, smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
msg = b"From: py@example.org\r\nTo: u@example.com\r\nSubject: from smtplib\r\n\r\nline one\r\n.dotted line\r\n"
with smtplib.LMTP(host, port) as c:
    refused = c.sendmail("py@example.org", ["u@example.com", "nobody@example.com"], msg)
print(json.dumps({k: [v[0], v[1].decode()] for k, v in refused.items()}))
`

func TestPythonSmtplibLMTP(t *testing.T) {
	py := requireTool(t, "python3", "python3")
	e := openEngine(t, nil)
	id := createAccount(t, e, "u@example.com", event.StatusActive, 0)
	_, addr := startServer(t, e, nil)
	host, port, _ := net.SplitHostPort(addr)

	out := runTool(t, py, "-c", pythonLMTP, host, port)
	var refused map[string][2]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &refused); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if len(refused) != 1 || refused["nobody@example.com"][0] != float64(550) ||
		!strings.HasPrefix(refused["nobody@example.com"][1].(string), "5.1.1") {
		t.Fatalf("refused recipients %v, want nobody@example.com with 550 5.1.1", refused)
	}
	_, bodies := inbox(t, e, id)
	want := "Return-Path: <py@example.org>\r\nDelivered-To: u@example.com\r\n" +
		"From: py@example.org\r\nTo: u@example.com\r\nSubject: from smtplib\r\n\r\nline one\r\n.dotted line\r\n"
	if len(bodies) != 1 || string(bodies[0]) != want {
		t.Fatalf("stored %q, want %q", bodies, want)
	}
}

// TestSwaksLMTP delivers with swaks --protocol LMTP to two accounts and an
// unknown user, checks swaks saw one 250 per accepted recipient, and that
// both accounts hold the same bytes under one digest.
func TestSwaksLMTP(t *testing.T) {
	swaks := requireTool(t, "swaks", "swaks")
	e := openEngine(t, nil)
	a := createAccount(t, e, "a@example.com", event.StatusActive, 0)
	b := createAccount(t, e, "b@example.com", event.StatusActive, 0)
	_, addr := startServer(t, e, nil)

	// swaks ends DATA with CRLF "." CRLF after the file's last byte, so a
	// file ending in a newline would gain an empty line: leave it off.
	body := "From: swaks@example.org\nTo: a@example.com\nSubject: from swaks\n\nhello from swaks"
	file := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, swaks, "--protocol", "LMTP", "--server", addr, "--helo", "client.test",
		"--from", "swaks@example.org", "--to", "a@example.com,nobody@example.com,b@example.com",
		"--data", "@"+file, "--timeout", "30")
	for _, want := range []string{"550 5.1.1", "250 2.0.0 <a@example.com>", "250 2.0.0 <b@example.com>"} {
		if !strings.Contains(out, want) {
			t.Fatalf("swaks transcript lacks %q:\n%s", want, out)
		}
	}
	ia, ba := inbox(t, e, a)
	ib, bb := inbox(t, e, b)
	want := "Return-Path: <swaks@example.org>\r\n" + strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"
	if len(ba) != 1 || len(bb) != 1 || string(ba[0]) != want || string(bb[0]) != want {
		t.Fatalf("stored %q and %q, want %q each", ba, bb, want)
	}
	if ia[0].Digest != ib[0].Digest {
		t.Fatal("one message stored under two digests")
	}
}
