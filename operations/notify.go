package operations

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Event is what a notification is about.
type Event string

// The notified events. A failure is an end whose operation is Failed.
const (
	EventStarted Event = "started"
	EventEnded   Event = "ended"
)

// Notifier hears each operation's start and end. Notify runs on the
// manager's notification goroutine, one call at a time, with a deadline
// (Options.NotifyTimeout); an error is logged, never retried.
type Notifier interface {
	Notify(ctx context.Context, ev Event, op Operation) error
}

// notifyQueue hands events to the Notifier off the lanes' goroutines, so a
// slow delivery never holds up a queue.
type notifyQueue struct {
	opts   Options
	mu     sync.Mutex
	closed bool
	ch     chan notice
	done   chan struct{}
}

type notice struct {
	ev Event
	op Operation
}

const notifyBacklog = 256

func newNotifyQueue(opts Options) *notifyQueue {
	q := &notifyQueue{opts: opts, ch: make(chan notice, notifyBacklog), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *notifyQueue) push(ev Event, op Operation) {
	if q.opts.Notifier == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	select {
	case q.ch <- notice{ev, op}:
	default:
		q.opts.Logger.Warn("operation notification dropped: too many pending", "id", op.ID, "event", ev)
	}
}

func (q *notifyQueue) run() {
	defer close(q.done)
	for n := range q.ch {
		ctx, cancel := context.WithTimeout(context.Background(), q.opts.NotifyTimeout)
		err := q.opts.Notifier.Notify(ctx, n.ev, n.op)
		cancel()
		if err != nil {
			q.opts.Logger.Warn("operation notification not delivered", "id", n.op.ID, "event", n.ev, "err", err)
		} else {
			q.opts.Logger.Info("operation notification delivered", "id", n.op.ID, "event", n.ev, "state", n.op.State)
		}
	}
}

// close delivers what is pending, then stops.
func (q *notifyQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	<-q.done
}

// Mailer delivers a complete message (RFC 5322, CRLF line ends) to local
// addresses. The composition root implements it with the engine's delivery,
// so a notification is a record in the redo log like any mail. An error
// names the addresses that did not get it.
type Mailer interface {
	DeliverMail(ctx context.Context, to []string, msg []byte) error
}

// MailOptions configures a MailNotifier.
type MailOptions struct {
	From     string   // From: address; default "tidemark@<Hostname>"
	To       []string // the administrators
	Hostname string   // for Message-ID and the default From; default "localhost"
	Now      func() time.Time
}

// MailNotifier mails each start and end, with the report, to the
// administrators.
type MailNotifier struct {
	mailer Mailer
	opts   MailOptions
}

// NewMailNotifier makes a Notifier that mails through m.
func NewMailNotifier(m Mailer, o MailOptions) *MailNotifier {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.From == "" {
		o.From = "tidemark@" + o.Hostname
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &MailNotifier{mailer: m, opts: o}
}

// Notify mails ev about op to the administrators.
func (n *MailNotifier) Notify(ctx context.Context, ev Event, op Operation) error {
	if len(n.opts.To) == 0 {
		return nil
	}
	return n.mailer.DeliverMail(ctx, n.opts.To, n.Message(ev, op))
}

// maxMailReport bounds the report carried in a notification; the whole
// report stays available from "tidemark op show".
const maxMailReport = 256 << 10

// Subject is the subject line of the notification of ev about op.
func Subject(ev Event, op Operation) string {
	what := string(op.State)
	if ev == EventStarted {
		what = "started"
	}
	s := fmt.Sprintf("tidemark operation %d %s: %s", op.ID, what, op.Kind)
	if op.Schedule != "" {
		s += " (scheduled " + op.Schedule + ")"
	}
	return s
}

// Message is the notification of ev about op as a complete message.
func (n *MailNotifier) Message(ev Event, op Operation) []byte {
	now := n.opts.Now()
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, headerSafe(v)) }
	h("From", n.opts.From)
	h("To", strings.Join(n.opts.To, ", "))
	h("Subject", Subject(ev, op))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", fmt.Sprintf("<op-%d-%s-%d@%s>", op.ID, ev, now.UnixNano(), n.opts.Hostname))
	h("Auto-Submitted", "auto-generated")
	h("X-Tidemark-Operation", fmt.Sprintf("%d", op.ID))
	h("X-Tidemark-State", string(op.State))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	for _, line := range strings.Split(Body(ev, op), "\n") {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// Body is the text of the notification of ev about op.
func Body(ev Event, op Operation) string {
	var b strings.Builder
	switch ev {
	case EventStarted:
		fmt.Fprintf(&b, "Operation %d (%s) started.\n\n", op.ID, op.Kind)
	default:
		fmt.Fprintf(&b, "Operation %d (%s) ended: %s.\n\n", op.ID, op.Kind, op.State)
	}
	row := func(k, v string) { fmt.Fprintf(&b, "%-11s %s\n", k+":", v) }
	row("Kind", op.Kind)
	row("Lane", string(op.Lane))
	if len(op.Params) > 0 {
		row("Parameters", string(op.Params))
	}
	if op.Schedule != "" {
		row("Schedule", op.Schedule)
	}
	if op.ResubmitOf != 0 {
		row("Repeats", fmt.Sprintf("operation %d", op.ResubmitOf))
	}
	row("Submitted", op.Submitted.UTC().Format(time.RFC3339))
	if !op.Started.IsZero() {
		row("Started", op.Started.UTC().Format(time.RFC3339))
	}
	if !op.Ended.IsZero() {
		row("Ended", op.Ended.UTC().Format(time.RFC3339))
		if !op.Started.IsZero() {
			row("Duration", op.Ended.Sub(op.Started).Round(time.Millisecond).String())
		}
	}
	if ev == EventEnded {
		row("Progress", FormatProgress(op.Progress))
	}
	if op.Error != "" {
		row("Error", op.Error)
	}
	if len(op.Report) > 0 {
		var pretty bytes.Buffer
		if json.Indent(&pretty, op.Report, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(op.Report)
		}
		b.WriteString("\nReport:\n")
		if pretty.Len() > maxMailReport {
			b.Write(pretty.Bytes()[:maxMailReport])
			fmt.Fprintf(&b, "\n[report cut at %d bytes; the whole report: tidemark op show %d --json]\n", maxMailReport, op.ID)
		} else {
			b.Write(pretty.Bytes())
			b.WriteString("\n")
		}
	}
	return b.String()
}

// FormatProgress renders p for people: "120/300 items, 1.2 MiB/3.0 MiB,
// 40 items/s, ETA 5s".
func FormatProgress(p Progress) string {
	var parts []string
	if p.ItemsTotal > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d items", p.Items, p.ItemsTotal))
	} else {
		parts = append(parts, fmt.Sprintf("%d items", p.Items))
	}
	if p.BytesTotal > 0 {
		parts = append(parts, fmt.Sprintf("%s/%s", formatBytes(p.Bytes), formatBytes(p.BytesTotal)))
	} else if p.Bytes > 0 {
		parts = append(parts, formatBytes(p.Bytes))
	}
	if p.BytesPerSec > 0 {
		parts = append(parts, formatBytes(int64(p.BytesPerSec))+"/s")
	} else if p.ItemsPerSec > 0 {
		parts = append(parts, fmt.Sprintf("%.0f items/s", p.ItemsPerSec))
	}
	if p.ETASeconds > 0 {
		parts = append(parts, "ETA "+(time.Duration(p.ETASeconds)*time.Second).String())
	}
	if p.Step != "" {
		parts = append(parts, p.Step)
	}
	return strings.Join(parts, ", ")
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// headerSafe keeps a header value on one line.
func headerSafe(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
