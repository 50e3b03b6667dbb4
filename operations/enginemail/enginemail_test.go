package enginemail

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/operations"
)

func TestNotificationArrivesInTheAdminsInbox(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.Open(filepath.Join(t.TempDir(), "data"), &engine.Options{BcryptCost: 4, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := eng.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	admin, err := eng.CreateAccount(ctx, engine.AccountSpec{Address: "admin@example.org", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}

	notifier := operations.NewMailNotifier(New(eng), operations.MailOptions{
		To: []string{"Admin@example.org", "nobody@example.org"}, Hostname: "mx.example.org"})
	m, err := operations.Open(filepath.Join(t.TempDir(), "operations"), &operations.Options{Logger: log, Notifier: notifier})
	if err != nil {
		t.Fatal(err)
	}
	m.Register("backup.verify", operations.LaneBackup, func(context.Context, json.RawMessage, *operations.Tracker) (any, error) {
		return map[string]int{"blobs": 12}, nil
	})
	op, err := m.Submit(operations.Request{Kind: "backup.verify"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Wait(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	inbox, err := eng.FolderByPath(ctx, admin.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	items, err := eng.ListItems(ctx, admin.ID, inbox.ID)
	if err != nil || len(items) != 2 {
		t.Fatalf("%d items in the admin's INBOX, %v", len(items), err)
	}
	var subjects []string
	for _, it := range items {
		rc, _, err := eng.OpenBlob(ctx, admin.ID, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		msg := string(b)
		if !strings.HasPrefix(msg, "Return-Path: <>\r\n") {
			t.Errorf("no null Return-Path:\n%s", msg)
		}
		for _, line := range strings.Split(msg, "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				subjects = append(subjects, s)
			}
		}
		if strings.Contains(msg, "ended: done") && !strings.Contains(msg, `"blobs": 12`) {
			t.Errorf("end mail without the report:\n%s", msg)
		}
	}
	want := "tidemark operation 1 started: backup.verify|tidemark operation 1 done: backup.verify"
	if strings.Join(subjects, "|") != want {
		t.Fatalf("subjects %q", subjects)
	}
}

func TestUnknownAdminIsReported(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.Open(filepath.Join(t.TempDir(), "data"), &engine.Options{BcryptCost: 4,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	err = New(eng).DeliverMail(ctx, []string{"ghost@example.org"}, []byte("Subject: x\r\n\r\nbody\r\n"))
	if !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), "ghost@example.org") {
		t.Fatalf("err %v", err)
	}
}
