package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/tidemark/tidemark/operations"
)

// The admin socket's operations calls. They need a running server (they are
// serverOps); without one, the op commands work on the operations directory
// themselves (op.go).

type opSubmitArgs struct {
	Kind   string          `json:"kind"`
	Params json.RawMessage `json:"params,omitempty"`
}

type opIDArgs struct {
	ID uint64 `json:"id"`
}

type opLaneArgs struct {
	Lane operations.Lane `json:"lane"`
}

// opsList is the answer to op.list.
type opsList struct {
	Operations []operations.Operation `json:"operations"`
	Paused     []operations.Lane      `json:"paused,omitempty"`
}

func (s *adminServer) manager() (*operations.Manager, error) {
	if s.ops == nil {
		return nil, errors.New("this server runs no operations manager")
	}
	return s.ops, nil
}

func init() {
	withOps := func(f func(m *operations.Manager, raw json.RawMessage) (any, error)) serverOp {
		return func(_ context.Context, s *adminServer, raw json.RawMessage) (any, error) {
			m, err := s.manager()
			if err != nil {
				return nil, err
			}
			return f(m, raw)
		}
	}
	serverOps["op.submit"] = withOps(func(m *operations.Manager, raw json.RawMessage) (any, error) {
		var a opSubmitArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return m.Submit(operations.Request{Kind: a.Kind, Params: a.Params})
	})
	serverOps["op.list"] = withOps(func(m *operations.Manager, _ json.RawMessage) (any, error) {
		return opsList{Operations: m.List(), Paused: m.Paused()}, nil
	})
	serverOps["op.show"] = withOps(func(m *operations.Manager, raw json.RawMessage) (any, error) {
		var a opIDArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return m.Get(a.ID)
	})
	serverOps["op.stop"] = withOps(func(m *operations.Manager, raw json.RawMessage) (any, error) {
		var a opIDArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return m.Stop(a.ID)
	})
	serverOps["op.resubmit"] = withOps(func(m *operations.Manager, raw json.RawMessage) (any, error) {
		var a opIDArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return m.Resubmit(a.ID)
	})
	serverOps["op.pause"] = withOps(func(m *operations.Manager, raw json.RawMessage) (any, error) {
		var a opLaneArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return nil, m.Pause(a.Lane)
	})
	serverOps["op.resume"] = withOps(func(m *operations.Manager, raw json.RawMessage) (any, error) {
		var a opLaneArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return nil, m.Resume(a.Lane)
	})
	serverOps["schedule.show"] = func(_ context.Context, s *adminServer, _ json.RawMessage) (any, error) {
		if s.sched == nil {
			return nil, errors.New("this server runs no scheduler")
		}
		return s.sched.Plan(), nil
	}
	for k, e := range map[string]error{"op_not_found": operations.ErrNotFound, "op_ended": operations.ErrEnded,
		"op_unknown_kind": operations.ErrUnknownKind} {
		errorKinds[k] = e
	}
}

// watchInterval is the least time between two progress lines of a watch.
const watchInterval = 200 * time.Millisecond

// serveWatch streams operation id as JSON lines: now, at each change (at
// most every watchInterval) and once ended, then closes.
func (s *adminServer) serveWatch(w http.ResponseWriter, r *http.Request) {
	var a opIDArgs
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&a); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	m, err := s.manager()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	op, ch, err := m.Watch(a.ID)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	fl, _ := w.(http.Flusher)
	for {
		if err := enc.Encode(op); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		if op.State.Ended() {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-ch:
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(watchInterval):
		}
		if op, ch, err = m.Watch(a.ID); err != nil {
			return
		}
	}
}

// errServerGone is a watch cut because the server stopped.
var errServerGone = errors.New("the server stopped")

// watchServer follows operation id on the running server, calling f with
// each state, until it ends (nil), ctx ends (ctx's error), or the server
// goes (errServerGone, or a noServerError when none answered at all).
func watchServer(ctx context.Context, dataDir string, id uint64, f func(operations.Operation)) (operations.Operation, error) {
	path := filepath.Join(dataDir, adminSocket)
	client := adminClient(path)
	body, _ := json.Marshal(opIDArgs{ID: id})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://tidemark/v1/watch", bytes.NewReader(body))
	if err != nil {
		return operations.Operation{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ns noServerError
		if errors.As(err, &ns) {
			return operations.Operation{}, ns
		}
		if ctx.Err() != nil {
			return operations.Operation{}, ctx.Err()
		}
		return operations.Operation{}, fmt.Errorf("admin socket %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusNotFound {
			return operations.Operation{}, &remoteError{msg: string(bytes.TrimSpace(msg)), kind: operations.ErrNotFound}
		}
		return operations.Operation{}, fmt.Errorf("admin socket: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var last operations.Operation
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			return last, fmt.Errorf("admin socket: %w", err)
		}
		f(last)
		if last.State.Ended() {
			return last, nil
		}
	}
	if ctx.Err() != nil {
		return last, ctx.Err()
	}
	return last, errServerGone
}
