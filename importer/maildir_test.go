package importer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/testcorpus"
)

// want is one message expected in a folder, in UID order.
type want struct {
	body  []byte
	flags string
	date  time.Time
}

// flagCases cycles the ":2," infos given to messages in cur/, with the
// flags they must become (a and b are the keywords of dovecot-keywords).
var flagCases = []struct{ info, flags string }{
	{"2,", ""},
	{"2,S", `\Seen`},
	{"2,FRS", `\Answered \Flagged \Seen`},
	{"2,DPT", `$Forwarded \Deleted \Draft`},
	{"2,Sab", `$Junk \Seen project-x`},
}

// writeMaildir writes msgs as a maildir at dir: every third message in
// new/ (no flags), the others in cur/ with the flag cases in turn. The
// file time is the internal date.
func writeMaildir(t *testing.T, dir string, msgs [][]byte, start time.Time) []want {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte("0 $Junk\n1 project-x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out []want
	for i, b := range msgs {
		date := start.Add(time.Duration(i) * time.Minute)
		name := fmt.Sprintf("%d.M%dP1.test", date.Unix(), i)
		w := want{body: b, date: date}
		if i%3 == 0 {
			writeFileTime(t, filepath.Join(dir, "new", name), b, date)
		} else {
			fc := flagCases[i%len(flagCases)]
			writeFileTime(t, filepath.Join(dir, "cur", name+":"+fc.info), b, date)
			w.flags = fc.flags
		}
		out = append(out, w)
	}
	return out
}

func checkFolder(t *testing.T, r *rig, path string, exp []want) {
	t.Helper()
	got := r.folder(t, path)
	if len(got) != len(exp) {
		t.Fatalf("folder %s: %d messages, want %d", path, len(got), len(exp))
	}
	for i, g := range got {
		e := exp[i]
		if g.body != string(e.body) {
			t.Fatalf("folder %s message %d (uid %d): body differs (%d bytes, want %d)", path, i, g.uid, len(g.body), len(e.body))
		}
		if flagString(g.flags) != e.flags {
			t.Fatalf("folder %s message %d: flags %q, want %q", path, i, flagString(g.flags), e.flags)
		}
		if !g.date.Equal(e.date) {
			t.Fatalf("folder %s message %d: internal date %v, want %v", path, i, g.date, e.date)
		}
	}
}

// TestMaildirCorpus imports the shared corpus as a Maildir++ tree (one
// archive as INBOX, the others as folders, one nested, the malformed set in
// a folder with a modified UTF-7 name) and fetches every message back byte
// for byte, with flags and dates; a second run imports nothing, a third
// only what was added.
func TestMaildirCorpus(t *testing.T) {
	archives := testcorpus.Archives(t)
	if testing.Short() {
		archives = archives[len(archives)-1:]
	}
	r := newRig(t)
	root := filepath.Join(t.TempDir(), "Maildir")
	start := time.Date(2021, 3, 1, 12, 0, 0, 0, time.UTC)
	expect := map[string][]want{}
	for i, a := range archives {
		var msgs [][]byte
		for _, f := range testcorpus.Realistic(t, a) {
			msgs = append(msgs, f.Data)
		}
		name := strings.TrimSuffix(a, ".tar.zst")
		dir, path := filepath.Join(root, "."+name), name
		switch i {
		case 0:
			dir, path = root, "INBOX"
		case 1:
			dir, path = filepath.Join(root, ".lists."+name), "lists/"+name
		}
		expect[path] = writeMaildir(t, dir, msgs, start)
	}
	var bad [][]byte
	for _, f := range testcorpus.Malformed(t, false) {
		bad = append(bad, f.Data)
	}
	expect["Entwürfe"] = writeMaildir(t, filepath.Join(root, ".Entw&APw-rfe"), bad, start)

	src := &Maildir{Dir: root}
	rep := mustRun(t, r, src)
	total := 0
	for path, exp := range expect {
		checkFolder(t, r, path, exp)
		total += len(exp)
	}
	if rep.Imported != int64(total) || rep.Failed != 0 || rep.Skipped != 0 {
		t.Fatalf("report: %d imported, %d skipped, %d failed; want %d imported\n%s", rep.Imported, rep.Skipped, rep.Failed, total, rep)
	}
	if len(archives) > 1 {
		if got := strings.Join(r.paths(t), ","); !strings.Contains(got, "lists,lists/") {
			t.Fatalf("folders %s: want the Maildir++ parent lists created", got)
		}
	}

	// Nothing new: nothing imported, nothing even compared.
	rep = mustRun(t, r, &Maildir{Dir: root})
	if rep.Imported != 0 || rep.Skipped != 0 || rep.Failed != 0 {
		t.Fatalf("second run: %d imported, %d skipped, %d failed; want nothing\n%s", rep.Imported, rep.Skipped, rep.Failed, rep)
	}

	// Two new deliveries, one to INBOX and one to a folder.
	later := start.Add(1000 * time.Hour)
	n1 := []byte("From: a@example.net\nSubject: new one\n\nhello\n")
	n2 := []byte("From: b@example.net\nSubject: new two\n\nhello again\n")
	writeFileTime(t, filepath.Join(root, "new", fmt.Sprintf("%d.M1P2.test", later.Unix())), n1, later)
	writeFileTime(t, filepath.Join(root, ".Entw&APw-rfe", "cur", fmt.Sprintf("%d.M2P2.test:2,F", later.Unix())), n2, later)
	rep = mustRun(t, r, &Maildir{Dir: root})
	if rep.Imported != 2 || rep.Skipped != 0 {
		t.Fatalf("third run: %d imported, %d skipped; want 2 imported\n%s", rep.Imported, rep.Skipped, rep)
	}
	checkFolder(t, r, "INBOX", append(expect["INBOX"], want{body: n1, date: later}))
	checkFolder(t, r, "Entwürfe", append(expect["Entwürfe"], want{body: n2, date: later, flags: `\Flagged`}))
}
