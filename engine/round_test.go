package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/engine/event"
)

// TestApplyFailureAnswersWholeRound puts three commands in one round whose
// second event fails to apply: every caller must get an answer (none may
// wait for ever), nothing of the round is written, and the engine goes on.
func TestApplyFailureAnswersWholeRound(t *testing.T) {
	e, err := Open("data", testOptions(vfs.NewMem()))
	must(t, err)
	defer e.Close()
	mk := func(ev event.Event, more bool) *command {
		return &command{ctx: ctx, more: more, done: make(chan struct{}),
			build: func(*txn) (event.Event, any, error) { return ev, nil, nil }}
	}
	cmds := []*command{
		mk(event.DomainCreated{Name: "a.example"}, true),
		mk(event.FolderCreated{Account: 999, Folder: 1, Name: "x"}, true), // no such account
		mk(event.DomainCreated{Name: "b.example"}, false),
	}
	last := e.log.LastLSN()
	for _, c := range cmds {
		e.cmds <- c
	}
	for i, c := range cmds {
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("command %d of the aborted round never answered", i)
		}
		if c.err == nil {
			t.Fatalf("command %d succeeded in an aborted round", i)
		}
	}
	if !strings.Contains(cmds[1].err.Error(), "apply") || !strings.Contains(cmds[2].err.Error(), "aborted") {
		t.Fatalf("errors: %v / %v / %v", cmds[0].err, cmds[1].err, cmds[2].err)
	}
	if e.log.LastLSN() != last {
		t.Fatalf("aborted round wrote records: lsn %d -> %d", last, e.log.LastLSN())
	}
	if _, err := e.GetDomain(ctx, "a.example"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("domain of the aborted round exists: %v", err)
	}
	must(t, e.CreateDomain(ctx, "c.example"))
	must(t, e.Check(ctx))
}
