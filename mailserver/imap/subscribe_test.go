package imap

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/engine"
)

// listLine matches one LIST or LSUB response: attributes, name, and the
// extended data after it.
var listLine = regexp.MustCompile(`^\* (?:LIST|LSUB) \(([^)]*)\) "/" ("(?:[^"\\]|\\.)*"|\S+)(.*)\r\n$`)

// listed maps each name of a LIST or LSUB answer to its attributes, with
// the extended data (CHILDINFO) after a "|" when there is one.
func listed(t *testing.T, lines []string) map[string]string {
	t.Helper()
	lastOK(t, "list", lines)
	out := map[string]string{}
	for _, l := range lines[:len(lines)-1] {
		m := listLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a LIST response: %q", l)
		}
		name := strings.Trim(m[2], `"`)
		v := m[1]
		if x := strings.TrimSpace(m[3]); x != "" {
			v += "|" + x
		}
		out[name] = v
	}
	return out
}

func wantListed(t *testing.T, what string, got map[string]string, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d names %v, want %v", what, len(got), got, want)
	}
	for n, a := range want {
		if g, ok := got[n]; !ok || g != a {
			t.Errorf("%s: %q has %q (listed %v), want %q", what, n, g, ok, a)
		}
	}
}

// TestSubscriptionsRFC: the subscription list is names, apart from the
// mailboxes (RFC 9051 6.3.4-6.3.9, RFC 5258, RFC 3501 6.3.9), checked on
// the wire.
func TestSubscriptionsRFC(t *testing.T) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	r := env.raw()
	lastOK(t, "LOGIN", r.cmd("LOGIN alice@example.com %s", testPassword))
	start := map[string]string{
		"INBOX": `\HasNoChildren \Subscribed`, "Sent": `\HasNoChildren \Subscribed \Sent`,
		"Drafts": `\HasNoChildren \Subscribed \Drafts`, "Trash": `\HasNoChildren \Subscribed \Trash`,
		"Junk": `\HasNoChildren \Subscribed \Junk`,
	}
	// A new account's starting mailboxes are subscribed.
	wantListed(t, "new account", listed(t, r.cmd("%s", `LIST (SUBSCRIBED) "" "*"`)), start)

	// SUBSCRIBE of a name with no mailbox: OK (RFC 9051 6.3.7), listed
	// \NonExistent by LIST (SUBSCRIBED) (RFC 5258 3.1), \Noselect by LSUB.
	lastOK(t, "SUBSCRIBE", r.cmd("SUBSCRIBE Lists/go-nuts"))
	lastOK(t, "SUBSCRIBE again", r.cmd("SUBSCRIBE Lists/go-nuts"))
	want := maps(start, "Lists/go-nuts", `\NonExistent \Subscribed`)
	wantListed(t, "LIST (SUBSCRIBED)", listed(t, r.cmd("%s", `LIST (SUBSCRIBED) "" "*"`)), want)
	wantListed(t, "LIST (SUBSCRIBED) RETURN (CHILDREN)", listed(t, r.cmd("%s", `LIST (SUBSCRIBED) "" "Lists/*" RETURN (CHILDREN)`)),
		map[string]string{"Lists/go-nuts": `\NonExistent \HasNoChildren \Subscribed`})
	wantListed(t, "LSUB", listed(t, r.cmd("%s", `LSUB "" "Lists/*"`)), map[string]string{"Lists/go-nuts": `\Noselect`})
	if got := listed(t, r.cmd("%s", `LIST "" "*"`)); got["Lists/go-nuts"] != "" || got["Lists"] != "" {
		t.Errorf("LIST shows a subscribed name without a mailbox: %v", got)
	}
	// "%" stops above it: RECURSIVEMATCH answers the superior with
	// CHILDINFO (RFC 5258 3.5), LSUB with \Noselect (RFC 3501 6.3.9);
	// without RECURSIVEMATCH, or with "*", the superior is not answered.
	wantListed(t, "RECURSIVEMATCH %", listed(t, r.cmd("%s", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "L%"`)),
		map[string]string{"Lists": `\NonExistent|("CHILDINFO" ("SUBSCRIBED"))`})
	wantListed(t, "SUBSCRIBED %", listed(t, r.cmd("%s", `LIST (SUBSCRIBED) "" "L%"`)), map[string]string{})
	wantListed(t, "RECURSIVEMATCH *", listed(t, r.cmd("%s", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "L*"`)),
		map[string]string{"Lists/go-nuts": `\NonExistent \Subscribed`})
	wantListed(t, "LSUB %", listed(t, r.cmd("%s", `LSUB "" "L%"`)), map[string]string{"Lists": `\Noselect`})
	wantListed(t, "LSUB *", listed(t, r.cmd("%s", `LSUB "" "L*"`)), map[string]string{"Lists/go-nuts": `\Noselect`})

	// A mailbox created at the name is subscribed; a subscribed parent with
	// a subscribed child carries CHILDINFO under RECURSIVEMATCH.
	lastOK(t, "CREATE", r.cmd("CREATE Lists/go-nuts"))
	lastOK(t, "SUBSCRIBE", r.cmd("SUBSCRIBE Lists"))
	wantListed(t, "after CREATE", listed(t, r.cmd("%s", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "L*"`)), map[string]string{
		"Lists":         `\HasChildren \Subscribed|("CHILDINFO" ("SUBSCRIBED"))`,
		"Lists/go-nuts": `\HasNoChildren \Subscribed`,
	})
	wantListed(t, "LSUB after CREATE", listed(t, r.cmd("%s", `LSUB "" "L*"`)), map[string]string{
		"Lists": `\HasChildren`, "Lists/go-nuts": `\HasNoChildren`,
	})

	// DELETE leaves the subscription, of a mailbox subscribed by SUBSCRIBE
	// and of a starting one.
	lastOK(t, "DELETE", r.cmd("DELETE Lists/go-nuts"))
	lastOK(t, "DELETE Junk", r.cmd("DELETE Junk"))
	want = maps(start, "Lists", `\HasNoChildren \Subscribed`, "Lists/go-nuts", `\NonExistent \Subscribed`,
		"Junk", `\NonExistent \Subscribed`)
	wantListed(t, "after DELETE", listed(t, r.cmd("%s", `LIST (SUBSCRIBED) "" "*"`)), want)

	// RENAME does not move subscriptions (RFC 9051 6.3.6): the old names
	// stay, children too, the new ones are not subscribed.
	lastOK(t, "CREATE", r.cmd("CREATE Lists/rust"))
	lastOK(t, "SUBSCRIBE", r.cmd("SUBSCRIBE Lists/rust"))
	lastOK(t, "RENAME", r.cmd("RENAME Lists Mail"))
	lastOK(t, "RENAME Trash", r.cmd("RENAME Trash Bin"))
	want = maps(start, "Lists", `\NonExistent \Subscribed`, "Lists/go-nuts", `\NonExistent \Subscribed`,
		"Lists/rust", `\NonExistent \Subscribed`, "Junk", `\NonExistent \Subscribed`, "Trash", `\NonExistent \Subscribed`)
	wantListed(t, "after RENAME", listed(t, r.cmd("%s", `LIST (SUBSCRIBED) "" "*"`)), want)
	wantListed(t, "RETURN (SUBSCRIBED)", listed(t, r.cmd("%s", `LIST "" "*" RETURN (SUBSCRIBED)`)), map[string]string{
		"INBOX": `\HasNoChildren \Subscribed`, "Sent": `\HasNoChildren \Subscribed \Sent`,
		"Drafts": `\HasNoChildren \Subscribed \Drafts`, "Bin": `\HasNoChildren \Trash`,
		"Mail": `\HasChildren`, "Mail/rust": `\HasNoChildren`,
	})

	// UNSUBSCRIBE of a name without a mailbox, and of a starting mailbox;
	// of a name never subscribed: OK (RFC 9051 6.3.8).
	lastOK(t, "UNSUBSCRIBE", r.cmd("UNSUBSCRIBE Lists/go-nuts"))
	lastOK(t, "UNSUBSCRIBE Sent", r.cmd("UNSUBSCRIBE Sent"))
	lastOK(t, "UNSUBSCRIBE never", r.cmd("UNSUBSCRIBE Never"))
	delete(want, "Lists/go-nuts")
	delete(want, "Sent")
	// Another session sees the same list.
	r2 := env.raw()
	lastOK(t, "LOGIN", r2.cmd("LOGIN alice@example.com %s", testPassword))
	wantListed(t, "second session", listed(t, r2.cmd("%s", `LIST (SUBSCRIBED) "" "*"`)), want)

	// "inbox" in any case is INBOX; a bad name is refused, nothing kept.
	lastOK(t, "UNSUBSCRIBE inbox", r.cmd("UNSUBSCRIBE inbox"))
	if got := listed(t, r.cmd("%s", `LIST (SUBSCRIBED) "" "INBOX"`)); len(got) != 0 {
		t.Errorf("INBOX still subscribed: %v", got)
	}
	if l := r.cmd("%s", `SUBSCRIBE ""`); !strings.HasPrefix(l[len(l)-1], "T") || !strings.Contains(l[len(l)-1], " NO ") {
		t.Errorf("SUBSCRIBE \"\": %q", l)
	}
}

func maps(base map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestSubscriptionsSurviveRestart: subscriptions of names without a
// mailbox, kept through DELETE and RENAME, come back after the server
// restarts, and after the projection is rebuilt from the redo log.
func TestSubscriptionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	eng, err := engine.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.CreateAccount(ctx, engine.AccountSpec{Address: "alice@example.com", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	serve := func(eng *engine.Engine) (*rawConn, func()) {
		srv := NewServer(eng, &Options{AllowInsecureAuth: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		r := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
		r.line()
		lastOK(t, "LOGIN", r.cmd("LOGIN alice@example.com %s", testPassword))
		return r, func() { c.Close(); srv.Close() }
	}
	r, stop := serve(eng)
	for _, c := range []string{"SUBSCRIBE Later/Maybe", "CREATE Work/2024", "SUBSCRIBE Work/2024",
		"RENAME Work Jobs", "DELETE Drafts", "UNSUBSCRIBE Sent"} {
		lastOK(t, c, r.cmd("%s", c))
	}
	before := r.cmd("%s", `LIST (SUBSCRIBED) "" "*"`)
	wantListed(t, "before restart", listed(t, before), map[string]string{
		"INBOX": `\HasNoChildren \Subscribed`, "Trash": `\HasNoChildren \Subscribed \Trash`,
		"Junk": `\HasNoChildren \Subscribed \Junk`, "Drafts": `\NonExistent \Subscribed`,
		"Later/Maybe": `\NonExistent \Subscribed`, "Work/2024": `\NonExistent \Subscribed`,
	})
	stop()
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	for _, rebuild := range []bool{false, true} {
		if rebuild {
			if err := os.RemoveAll(filepath.Join(dir, "meta")); err != nil {
				t.Fatal(err)
			}
		}
		eng, err = engine.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, stop = serve(eng)
		after := r.cmd("%s", `LIST (SUBSCRIBED) "" "*"`)
		if !slices.Equal(after[:len(after)-1], before[:len(before)-1]) {
			t.Errorf("rebuilt=%v: after restart\n%q\nbefore\n%q", rebuild, after, before)
		}
		stop()
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
