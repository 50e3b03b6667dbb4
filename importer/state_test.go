package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStaleStateNoDuplicates: messages committed after the last saved
// cursor (a crash between the engine's commit and the state save, played
// here by putting back an older state file) are found by content on the
// rerun, and two identical source messages still make two items.
func TestStaleStateNoDuplicates(t *testing.T) {
	r := newRig(t)
	root := filepath.Join(t.TempDir(), "Maildir")
	var msgs [][]byte
	for i := 0; i < 95; i++ {
		msgs = append(msgs, fmt.Appendf(nil, "Subject: %d\n\nbody %d\n", i, i))
	}
	exp := writeMaildir(t, root, msgs, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	// Two identical messages with the same date: two items, both times.
	twin := []byte("Subject: twin\n\nsame\n")
	at := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		writeFileTime(t, filepath.Join(root, "new", fmt.Sprintf("%d.M%dP9.test", at.Unix(), i)), twin, at)
		exp = append(exp, want{body: twin, date: at})
	}

	o := r.options()
	o.BatchMessages = 10
	o.ProgressEvery = time.Nanosecond
	statePath := stateStore{dir: o.StateDir}.stateFile(r.acct, (&Maildir{Dir: root}).Key())
	var early []byte
	o.Progress = ProgressFunc(func(s Status) {
		if early == nil && s.Imported >= 30 {
			early, _ = os.ReadFile(statePath)
		}
	})
	rep, err := Run(t.Context(), r.eng, &Maildir{Dir: root}, o)
	if err != nil || rep.Imported != 97 {
		t.Fatalf("first run: %v, %d imported\n%s", err, rep.Imported, rep)
	}
	if len(early) == 0 {
		t.Fatal("no state saved after the first batches")
	}
	if err := os.WriteFile(statePath, early, 0o600); err != nil {
		t.Fatal(err)
	}
	rep = mustRun(t, r, &Maildir{Dir: root})
	if rep.Imported != 0 || rep.Skipped != 97-30 {
		t.Fatalf("rerun on an old cursor: %d imported, %d skipped, want 0 and %d\n%s", rep.Imported, rep.Skipped, 97-30, rep)
	}
	checkFolder(t, r, "INBOX", exp)

	// No state at all (a rebuilt data directory): the whole folder is
	// compared, nothing is imported twice.
	if err := os.Remove(statePath); err != nil {
		t.Fatal(err)
	}
	rep = mustRun(t, r, &Maildir{Dir: root})
	if rep.Imported != 0 || rep.Skipped != 97 {
		t.Fatalf("rerun without state: %d imported, %d skipped, want 0 and 97\n%s", rep.Imported, rep.Skipped, rep)
	}
	checkFolder(t, r, "INBOX", exp)
	st, err := os.Stat(statePath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v, want mode 0600", st, err)
	}
	if d, err := os.Stat(filepath.Dir(statePath)); err != nil || d.Mode().Perm() != 0o700 {
		t.Fatalf("state directory: %v, want mode 0700", err)
	}
	if !bytes.Contains(early, []byte(`"names"`)) {
		t.Fatalf("state %s holds no maildir names", early)
	}
}

// TestStopMidImport: an import whose context ends in the middle (an
// operation stopped by the administrator, Ctrl-C) returns ErrStopped with
// a partial report, and the rerun brings the rest, nothing twice.
func TestStopMidImport(t *testing.T) {
	r := newRig(t)
	root := filepath.Join(t.TempDir(), "Maildir")
	var msgs [][]byte
	for i := 0; i < 300; i++ {
		msgs = append(msgs, fmt.Appendf(nil, "Subject: %d\n\n%s\n", i, bytes.Repeat([]byte("s"), i)))
	}
	exp := writeMaildir(t, root, msgs, time.Date(2019, 5, 1, 0, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(t.Context())
	o := r.options()
	o.BatchMessages = 7
	o.ProgressEvery = time.Nanosecond
	o.Progress = ProgressFunc(func(s Status) {
		if s.Imported >= 100 {
			cancel()
		}
	})
	rep, err := Run(ctx, r.eng, &Maildir{Dir: root}, o)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) || rep.Stopped == "" {
		t.Fatalf("stopped import: %v (stopped %q), want ErrStopped from the cancelled context", err, rep.Stopped)
	}
	if rep.Imported < 100 || rep.Imported >= 300 {
		t.Fatalf("stopped import: %d imported", rep.Imported)
	}
	rep2 := mustRun(t, r, &Maildir{Dir: root})
	if rep.Imported+rep2.Imported != 300 {
		t.Fatalf("rerun: %d imported after %d, want 300 in all\n%s", rep2.Imported, rep.Imported, rep2)
	}
	checkFolder(t, r, "INBOX", exp)
}
