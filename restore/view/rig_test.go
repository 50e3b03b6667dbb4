package view

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/restore"
	"github.com/tidemark/tidemark/restore/internal/oracle"
)

var ctx = context.Background()

// service is a view over the rig's catalog, repository and engine, with
// copy-back through a real Restorer.
func service(r *oracle.Rig, opts *Options) *Service {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = r.Clk.Now
	}
	if o.Logger == nil {
		o.Logger = oracle.Quiet
	}
	rs := restore.New(r.Eng, r.Cat, r.Repo, &restore.Options{Now: r.Clk.Now, Logger: oracle.Quiet, Location: time.UTC})
	return New(r.Cat, r.Repo, r.Eng, rs, &o)
}

// viewDump is the account at t as the view serves it, in the oracle's
// terms: every folder, every message's digest of the bytes read through
// the view, flags and internal date, in UID order.
func viewDump(t testing.TB, a *Account, at time.Time) oracle.Mailbox {
	t.Helper()
	fs, err := a.Folders(ctx, at)
	if err != nil {
		t.Fatalf("folders at %s: %v", stamp(at), err)
	}
	out := oracle.Mailbox{}
	for _, f := range fs {
		box, err := a.Open(ctx, at, f.Path)
		if err != nil {
			t.Fatalf("open %s at %s: %v", f.Path, stamp(at), err)
		}
		out[f.Path] = mailboxMsgs(t, a, box)
	}
	return out
}

func mailboxMsgs(t testing.TB, a *Account, box *Mailbox) []oracle.Msg {
	t.Helper()
	list := []oracle.Msg{}
	var last uint32
	for _, m := range box.Messages {
		if m.UID <= last {
			t.Fatalf("%s: UID %d after %d", box.Path, m.UID, last)
		}
		last = m.UID
		rc, err := a.ReadMessage(ctx, m)
		if err != nil {
			t.Fatalf("read %s uid %d: %v", box.Path, m.UID, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		fl := slices.Clone(m.Flags)
		sort.Strings(fl)
		list = append(list, oracle.Msg{ID: m.Item, Sum: sha256.Sum256(b), Flags: fmt.Sprint(fl), Fl: fl, Date: m.InternalDate.UnixNano()})
	}
	if box.UIDNext != last+1 && !(len(box.Messages) == 0 && box.UIDNext == 1) {
		t.Fatalf("%s: UIDNEXT %d after UID %d", box.Path, box.UIDNext, last)
	}
	return list
}

func discard() *slog.Logger { return oracle.Quiet }

func engineSpec(addr string) engine.AccountSpec {
	return engine.AccountSpec{Address: addr, Password: "pw"}
}
