package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/restore"
)

// The admin API: provisioning commands reach a running server over a unix
// socket in the data directory (mode 0600, so only the owner of the data may
// administer it), and open the data directory directly when no server runs.
// Both paths go through the same dispatcher, dispatchAdmin, so a command
// behaves the same either way.

const adminSocket = "admin.sock"

// adminRequest is one call: an operation name and its JSON arguments.
type adminRequest struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// adminResponse carries a result or an error with a kind the client maps
// back to a sentinel, so exit codes and messages match the direct path.
type adminResponse struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Kind   string          `json:"kind,omitempty"`
}

// errorKinds maps engine sentinels to wire names and back.
var errorKinds = map[string]error{
	"not_found":        engine.ErrNotFound,
	"exists":           engine.ErrExists,
	"invalid":          engine.ErrInvalid,
	"quota":            engine.ErrQuotaExceeded,
	"folder_not_empty": engine.ErrFolderNotEmpty,
	"not_in_backup":    restore.ErrNotInBackup,
	"backup_not_found": repository.ErrNotFound,
}

func errorKind(err error) string {
	for k, s := range errorKinds {
		if errors.Is(err, s) {
			return k
		}
	}
	return ""
}

// remoteError is an error returned by the server, still matching the
// sentinel it was built from.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// serveAdmin listens on the admin socket until ctx ends.
func serveAdmin(ctx context.Context, dataDir string, srv *adminServer, log *slog.Logger) (func(), error) {
	path := filepath.Join(dataDir, adminSocket)
	// A socket left by a killed server: nothing listens on it any more, since
	// the data directory lock is ours.
	_ = os.Remove(path)
	// The umask is not narrowed around Listen: it is the whole process's,
	// and a directory another goroutine made meanwhile would lose its x
	// bits. The data directory is 0700, so no other user reaches the
	// socket before the chmod below.
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/call", func(w http.ResponseWriter, r *http.Request) {
		var req adminRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		res, err := srv.dispatch(r.Context(), req)
		var resp adminResponse
		if err != nil {
			resp.Error, resp.Kind = err.Error(), errorKind(err)
		} else if resp.Result, err = json.Marshal(res); err != nil {
			resp.Error = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
	mux.HandleFunc("POST /v1/watch", srv.serveWatch)
	mux.HandleFunc("GET /debug/pprof/{kind}", serveProfile)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := hs.Serve(&capListener{Listener: l, slots: make(chan struct{}, maxAdminConns)}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin socket stopped", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		_ = os.Remove(path)
	}, nil
}

// callAdmin runs one admin operation: through the running server's socket
// when there is one, else on the data directory opened directly. out
// receives the JSON result.
func callAdmin(ctx context.Context, dataDir, op string, args any, out any) error {
	if served, err := callServer(ctx, dataDir, op, args, out); served {
		return err
	}
	if _, ok := serverOps[op]; ok {
		return fmt.Errorf("%s needs a running server (tidemark serve --data %s)", op, dataDir)
	}
	eng, _, err := openEngineForAdmin(dataDir)
	if err != nil {
		return err
	}
	defer eng.Close()
	rawArgs, err := json.Marshal(args)
	if err != nil {
		return err
	}
	res, err := (&adminServer{eng: eng}).dispatch(ctx, adminRequest{Op: op, Args: rawArgs})
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// callServer runs op on the running server, if one answers on the admin
// socket; served is false when none does (no socket, or a socket left by a
// server that is gone).
func callServer(ctx context.Context, dataDir, op string, args any, out any) (served bool, err error) {
	rawArgs, err := json.Marshal(args)
	if err != nil {
		return false, err
	}
	err = callSocket(ctx, filepath.Join(dataDir, adminSocket), adminRequest{Op: op, Args: rawArgs}, out)
	var ns noServerError
	if errors.As(err, &ns) {
		return false, nil
	}
	return true, err
}

// noServerError marks a failure to connect to the admin socket: nothing
// was sent, so the caller may do the work itself.
type noServerError struct{ err error }

func (e noServerError) Error() string { return e.err.Error() }
func (e noServerError) Unwrap() error { return e.err }

// adminClient is an HTTP client of the admin socket at path; a failure to
// connect comes back as a noServerError.
func adminClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: time.Second}
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, noServerError{err}
			}
			return c, nil
		},
	}}
}

func callSocket(ctx context.Context, path string, req adminRequest, out any) error {
	client := adminClient(path)
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://tidemark/v1/call", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hresp, err := client.Do(hreq)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(hresp.Body, 4096))
		return fmt.Errorf("admin socket: %s: %s", hresp.Status, bytes.TrimSpace(msg))
	}
	var resp adminResponse
	if err := json.NewDecoder(hresp.Body).Decode(&resp); err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if resp.Error != "" {
		return &remoteError{msg: resp.Error, kind: errorKinds[resp.Kind]}
	}
	if out == nil || len(resp.Result) == 0 {
		return nil
	}
	return json.Unmarshal(resp.Result, out)
}

// maxAdminConns caps the admin socket's open connections (each watch of an
// operation holds one).
const maxAdminConns = 64

// capListener hands out at most cap(slots) connections at once; one more
// gets a 503 that says why and is closed, so a runaway client cannot use up
// the server's file descriptors.
type capListener struct {
	net.Listener
	slots chan struct{}

	// rejecting bounds the connections being answered 503 at once; beyond
	// it a connection is closed without an answer.
	rejecting chan struct{}
	initOnce  sync.Once
}

func (l *capListener) Accept() (net.Conn, error) {
	l.initOnce.Do(func() {
		if l.rejecting == nil {
			l.rejecting = make(chan struct{}, cap(l.slots))
		}
	})
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, slots: l.slots}, nil
		default:
		}
		select {
		case l.rejecting <- struct{}{}:
			go func() {
				defer func() { <-l.rejecting }()
				reject(c)
			}()
		default:
			_ = c.Close()
		}
	}
}

// reject answers a connection over the cap with a 503 that says why. It
// reads what the client sent first (briefly, a bounded amount), so that
// the client reads the answer instead of a reset connection.
func reject(c net.Conn) {
	defer c.Close()
	const msg = "too many admin connections, try again later\n"
	_ = c.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	_, _ = c.Read(buf)
	_, _ = fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(msg), msg)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// slotConn gives its slot back once, when closed.
type slotConn struct {
	net.Conn
	slots chan struct{}
	once  sync.Once
}

func (c *slotConn) Close() error {
	c.once.Do(func() { <-c.slots })
	return c.Conn.Close()
}
