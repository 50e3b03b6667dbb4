package lmtp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine/event"
)

// TestShutdown: Shutdown stops accepting at once, lets an open session
// finish its transaction, and when its context ends closes what is left.
func TestShutdown(t *testing.T) {
	b := newMemBackend()
	id := b.add("u@example.com", event.StatusActive, 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(b, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	cl := dial(t, l.Addr().String())
	cl.lhlo()
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<u@example.com>")
	cl.expect(250, "")
	cl.expect(250, "")

	shut := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { shut <- s.Shutdown(ctx) }()
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepts after Shutdown")
	}

	// The open session still completes its delivery.
	cl.data(testMsg)
	cl.expectRcpt("u@example.com", 250, "2.0.0")
	if n := len(b.messages(id)); n != 1 {
		t.Fatalf("%d messages stored", n)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a session open", err)
	default:
	}

	cancel()
	select {
	case err := <-shut:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after its context ended")
	}
	// The leftover connection was closed by Shutdown.
	cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := cl.c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Shutdown gave up")
	}
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}
