package main

import (
	"bufio"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAdminSocketCap: over a real unix socket, connections beyond the cap
// get a 503 that says why, and a slot freed by a closed connection serves
// the next request.
func TestAdminSocketCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go hs.Serve(&capListener{Listener: l, slots: make(chan struct{}, 2)})
	defer hs.Close()

	dial := func() net.Conn {
		c, err := net.DialTimeout("unix", path, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	get := func(c net.Conn) string {
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return err.Error()
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		return resp.Status
	}
	a, b := dial(), dial()
	defer b.Close()
	if got := get(a); got != "200 OK" {
		t.Fatalf("first connection: %s", got)
	}
	c := dial()
	if got := get(c); !strings.HasPrefix(got, "503") {
		t.Fatalf("connection over the cap: %s", got)
	}
	c.Close()
	a.Close()
	// The slot comes back once the server has seen the close.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d := dial()
		got := get(d)
		d.Close()
		if got == "200 OK" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("freed slot not reused: %s", got)
		}
	}
}
