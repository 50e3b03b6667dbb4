package imap

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// logins returns the "imap: login" lines logged so far.
func (l *lockedBuffer) logins(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "imap: login" {
			out = append(out, m)
		}
	}
	return out
}

// TestLoginLogLine: every login attempt, accepted or refused, is one Info
// line with the user, the client IP and the result; the password never
// appears.
func TestLoginLogLine(t *testing.T) {
	var buf lockedBuffer
	env := newEnv(t, &Options{AllowInsecureAuth: true, LockoutMaxFailures: 2, LockoutWindow: time.Hour, LockoutDuration: time.Hour,
		Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	env.account("alice@example.com", 0)
	env.login("alice@example.com", nil)
	for range 3 {
		if err := env.dial(nil).Login("alice@example.com", "wrong-secret").Wait(); err == nil {
			t.Fatal("login with a wrong password succeeded")
		}
	}
	var lines []map[string]any
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if lines = buf.logins(t); len(lines) >= 4 || time.Now().After(end) {
			break
		}
	}
	want := []string{"ok", "failed", "failed", "locked"}
	if len(lines) != len(want) {
		t.Fatalf("%d login lines, want %d: %v", len(lines), len(want), lines)
	}
	for i, l := range lines {
		if l["result"] != want[i] || l["user"] != "alice@example.com" || l["ip"] != "127.0.0.1" || l["level"] != "INFO" {
			t.Errorf("line %d: %v, want result %s for alice@example.com from 127.0.0.1", i, l, want[i])
		}
	}
	if lines[1]["reason"] == "" || lines[3]["reason"] == "" {
		t.Errorf("refusals without a reason: %v", lines)
	}
	buf.mu.Lock()
	defer buf.mu.Unlock()
	if strings.Contains(buf.b.String(), "wrong-secret") || strings.Contains(buf.b.String(), testPassword) {
		t.Error("a password reached the log")
	}
}
