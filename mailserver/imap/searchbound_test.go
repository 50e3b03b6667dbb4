package imap

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// blockingSearch is the engine with a Search that waits for its context
// to end and reports how it ended: it stands for a search too expensive
// to finish.
type blockingSearch struct {
	*engine.Engine
	started chan struct{}
	ended   chan error
}

func (b *blockingSearch) Search(ctx context.Context, acct, folder uint64, c *engine.SearchCriteria) ([]uint64, error) {
	b.started <- struct{}{}
	<-ctx.Done()
	b.ended <- ctx.Err()
	return nil, ctx.Err()
}

// SearchAmong (a search of the session's view) blocks the same way.
func (b *blockingSearch) SearchAmong(ctx context.Context, items []engine.Item, c *engine.SearchCriteria) ([]uint64, error) {
	return b.Search(ctx, 0, 0, c)
}

func blockingEnv(t *testing.T, timeout time.Duration) (*blockingSearch, string) {
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", testMessage(1, "x"), nil)
	b := &blockingSearch{Engine: env.eng, started: make(chan struct{}, 4), ended: make(chan error, 4)}
	srv := NewServer(b, &Options{AllowInsecureAuth: true, SearchTimeout: timeout, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return b, l.Addr().String()
}

// TestSearchTimeout: a SEARCH that runs past Options.SearchTimeout is
// stopped and answered NO [LIMIT]; the session goes on.
func TestSearchTimeout(t *testing.T) {
	b, addr := blockingEnv(t, 200*time.Millisecond)
	env := &testEnv{t: t, addr: addr}
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	l := r.cmd("SEARCH TEXT x")
	if !strings.Contains(l[len(l)-1], "NO [LIMIT]") {
		t.Fatalf("slow SEARCH: %q", l)
	}
	if err := <-b.ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("search ended by %v", err)
	}
	wantOnly(t, "NOOP after", r.cmd("NOOP"), "T4 OK")
}

// TestSearchStopsWhenClientLeaves: a client that disconnects during a
// SEARCH stops it, long before its deadline.
func TestSearchStopsWhenClientLeaves(t *testing.T) {
	b, addr := blockingEnv(t, time.Hour)
	env := &testEnv{t: t, addr: addr}
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("SELECT INBOX")
	if _, err := r.c.Write([]byte("S1 SEARCH OR TEXT a TEXT b\r\n")); err != nil {
		t.Fatal(err)
	}
	<-b.started
	r.c.Close()
	select {
	case err := <-b.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("search ended by %v, want cancellation", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("search still running 30 s after the client left")
	}
}
