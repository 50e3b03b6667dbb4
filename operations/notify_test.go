package operations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Notifier and a Mailer that keeps what it got.
type recorder struct {
	mu   sync.Mutex
	evs  []string
	mail []string
	to   [][]string
}

func (r *recorder) Notify(_ context.Context, ev Event, op Operation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, fmt.Sprintf("%s %d %s", ev, op.ID, op.State))
	return nil
}

func (r *recorder) events() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.evs, "; ")
}

func (r *recorder) DeliverMail(_ context.Context, to []string, msg []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mail = append(r.mail, string(msg))
	r.to = append(r.to, to)
	return nil
}

func (r *recorder) mails() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.mail...)
}

func TestNotificationMails(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	mail := &recorder{}
	n := NewMailNotifier(mail, MailOptions{To: []string{"admin@example.org", "ops@example.org"}, Hostname: "mx.example.org", Now: clk.Now})
	m := openTest(t, t.TempDir(), &Options{Now: clk.Now, Notifier: n})
	m.Register("restore.account", LaneBackup, func(ctx context.Context, _ json.RawMessage, p *Tracker) (any, error) {
		p.SetTotal(5, 0)
		p.Add(4, 4096)
		clk.Advance(2 * time.Second)
		return map[string]any{"restored": 4, "unrestored": 1}, errors.New("1 item unreadable")
	})
	op, err := m.Submit(Request{Kind: "restore.account", Params: json.RawMessage(`{"account":"alice@example.org"}`)})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, m, op.ID)
	m.Close() // delivers what is pending

	got := mail.mails()
	if len(got) != 2 {
		t.Fatalf("%d mails: %q", len(got), got)
	}
	start, end := got[0], got[1]
	for _, want := range []string{
		"From: tidemark@mx.example.org\r\n",
		"To: admin@example.org, ops@example.org\r\n",
		fmt.Sprintf("Subject: tidemark operation %d started: restore.account\r\n", op.ID),
		"Auto-Submitted: auto-generated\r\n",
		`Parameters: {"account":"alice@example.org"}`,
	} {
		if !strings.Contains(start, want) {
			t.Errorf("start mail lacks %q:\n%s", want, start)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("Subject: tidemark operation %d failed: restore.account\r\n", op.ID),
		"X-Tidemark-State: failed\r\n",
		"ended: failed.",
		"Error:      1 item unreadable",
		"Duration:   2s",
		"Progress:   4/5 items, 4.0 KiB",
		"\"unrestored\": 1",
	} {
		if !strings.Contains(end, want) {
			t.Errorf("end mail lacks %q:\n%s", want, end)
		}
	}
	if strings.Contains(strings.ReplaceAll(end, "\r\n", ""), "\n") {
		t.Errorf("bare LF in the message")
	}
	if len(mail.to[1]) != 2 {
		t.Errorf("recipients %v", mail.to[1])
	}
}

func TestNotificationReportIsBounded(t *testing.T) {
	big := strings.Repeat("x", 2*maxMailReport)
	rep, _ := json.Marshal(map[string]string{"failures": big})
	body := Body(EventEnded, Operation{ID: 3, Kind: "backup.verify", State: Done, Report: rep})
	if len(body) > maxMailReport+4096 || !strings.Contains(body, "tidemark op show 3 --json") {
		t.Fatalf("body of %d bytes", len(body))
	}
}
