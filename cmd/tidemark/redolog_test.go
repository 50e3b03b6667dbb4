package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tidemark/tidemark/redolog"
)

// redologFixture writes a log of n records on the real disk, one second
// apart from 2025-03-01T10:00:00Z, with records 1-3 sealed into archive/.
func redologFixture(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	l, err := redolog.Open(dir, &redolog.Options{FS: vfs.Default, Now: func() time.Time {
		now = now.Add(time.Second)
		return now.Add(-time.Second)
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, _, err := l.Append(uint16(i), bytes.Repeat([]byte("x"), i)); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			if err := l.Seal(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runRedologCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRedologCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// dumpedLSNs returns the LSN column of text dump output.
func dumpedLSNs(out string) string {
	var lsns []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			lsns = append(lsns, strings.SplitN(line, "\t", 2)[0])
		}
	}
	return strings.Join(lsns, ",")
}

func TestRedologDump(t *testing.T) {
	// The fixture's payloads are not events: show the raw form.
	defer func(old func(uint16, []byte) (string, any)) { describePayload = old }(describePayload)
	describePayload = nil
	dir := redologFixture(t, 6)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "1,2,3,4,5,6"},
		{[]string{"--from", "2", "--to", "4"}, "2,3,4"},
		{[]string{"--since", "2025-03-01T10:00:02Z"}, "3,4,5,6"},
		{[]string{"--until", "01/03/2025 10:00:01", "--from", "1"}, ""}, // local time: checked below
		{[]string{"--since", "2025-03-01T11:00:02+01:00", "--until", "2025-03-01T10:00:04Z"}, "3,4,5"},
		{[]string{"--since", "last"}, "6"},
		{[]string{"--until", "first", "--from", "3"}, "3"},
		{[]string{"--since", "first", "--until", "last", "--to", "2"}, "1,2"},
	} {
		if tc.args != nil && tc.args[0] == "--until" && tc.args[1] == "01/03/2025 10:00:01" {
			// dd/MM/yyyy is read in local time: 10:00:01 local.
			cut := time.Date(2025, 3, 1, 10, 0, 1, 0, time.Local)
			var want []string
			for i := 1; i <= 6; i++ {
				if !time.Date(2025, 3, 1, 10, 0, i-1, 0, time.UTC).After(cut) {
					want = append(want, fmt.Sprint(i))
				}
			}
			tc.want = strings.Join(want, ",")
		}
		out, err := runRedologCmd(t, append([]string{"dump", dir}, tc.args...)...)
		if err != nil {
			t.Fatalf("dump %v: %v", tc.args, err)
		}
		if got := dumpedLSNs(out); got != tc.want {
			t.Errorf("dump %v: lsns %q, want %q\n%s", tc.args, got, tc.want, out)
		}
	}
	out, _ := runRedologCmd(t, "dump", dir, "--to", "1")
	if want := "1\t2025-03-01T10:00:00Z\ttype=1\tsize=1\n"; out != want {
		t.Errorf("dump line %q, want %q", out, want)
	}
}

func TestRedologDumpJSONAndDescribe(t *testing.T) {
	dir := redologFixture(t, 4)
	defer func(old func(uint16, []byte) (string, any)) { describePayload = old }(describePayload)
	describePayload = func(typ uint16, p []byte) (string, any) {
		return fmt.Sprintf("event%d", typ), map[string]int{"len": len(p)}
	}
	out, err := runRedologCmd(t, "dump", dir, "--json", "--from", "3")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("json lines: %q", out)
	}
	var d struct {
		LSN    uint64
		Time   string
		Type   uint16
		Size   int
		Name   string
		Detail map[string]int
	}
	if err := json.Unmarshal([]byte(lines[1]), &d); err != nil {
		t.Fatal(err)
	}
	if d.LSN != 4 || d.Time != "2025-03-01T10:00:03Z" || d.Type != 4 || d.Size != 4 || d.Name != "event4" || d.Detail["len"] != 4 {
		t.Fatalf("json record: %+v", d)
	}
}

func TestRedologDumpErrors(t *testing.T) {
	dir := redologFixture(t, 2)
	for _, args := range [][]string{
		{"dump"},
		{"dump", dir, "--since", "yesterday"},
		{"dump", dir, "--from", "5", "--to", "2"},
	} {
		if _, err := runRedologCmd(t, args...); exitCode(err) != exitUsage {
			t.Errorf("%v: %v (exit %d), want usage error", args, err, exitCode(err))
		}
	}
	if _, err := runRedologCmd(t, "dump", filepath.Join(dir, "missing")); err == nil {
		t.Error("dump of a missing directory succeeded")
	}
}

func TestRedologVerify(t *testing.T) {
	dir := redologFixture(t, 6)
	out, err := runRedologCmd(t, "verify", dir)
	if err != nil || !strings.Contains(out, "records:  6") || !strings.Contains(out, "lsn:      1..6") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("verify sound log: %v\n%s", err, out)
	}
	// Flip one payload byte of record 5 (the second of the active segment).
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(names) != 1 {
		t.Fatalf("active segments: %v", names)
	}
	b, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	off := 24 + (redolog.RecordOverhead + 4) + redolog.RecordOverhead
	if binary.LittleEndian.Uint64(b[off-18:]) != 5 {
		t.Fatalf("fixture layout changed: lsn at %d is not 5", off-18)
	}
	b[off] ^= 1
	if err := os.WriteFile(names[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runRedologCmd(t, "verify", dir)
	if !errors.Is(err, redolog.ErrCorrupt) || exitCode(err) == exitOK || !strings.Contains(out, "CORRUPT: ") ||
		!strings.Contains(err.Error(), filepath.Base(names[0])) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", off-redolog.RecordOverhead)) {
		t.Fatalf("verify corrupt log: %v\n%s", err, out)
	}
}

// TestRedologDumpAndVerifyGap: dump shows a recorded gap in its place, as
// a line of its own in text and a {"gap":...} object in JSON, also when
// --from points inside it; verify lists it and stays ok.
func TestRedologDumpAndVerifyGap(t *testing.T) {
	dir := redologFixture(t, 4)
	l, err := redolog.Open(dir, &redolog.Options{FS: vfs.Default})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AcceptGap(6, "disk error on sda"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(1, []byte("after")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	defer func(old func(uint16, []byte) (string, any)) { describePayload = old }(describePayload)
	describePayload = nil
	out, err := runRedologCmd(t, "dump", dir)
	if err != nil || dumpedLSNs(out) != "1,2,3,4,5..6,7" || !strings.Contains(out, "GAP") || !strings.Contains(out, "disk error on sda") {
		t.Fatalf("dump: %v\n%s", err, out)
	}
	out, err = runRedologCmd(t, "dump", dir, "--from", "6")
	if err != nil || dumpedLSNs(out) != "5..6,7" {
		t.Fatalf("dump --from inside the gap: %v\n%s", err, out)
	}
	out, err = runRedologCmd(t, "dump", dir, "--json", "--from", "4")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var g struct {
		Gap struct {
			From, To uint64
			Reason   string
		} `json:"gap"`
	}
	if len(lines) != 3 || json.Unmarshal([]byte(lines[1]), &g) != nil || g.Gap.From != 5 || g.Gap.To != 6 || g.Gap.Reason != "disk error on sda" {
		t.Fatalf("dump --json:\n%s", out)
	}
	out, err = runRedologCmd(t, "verify", dir)
	if err != nil || !strings.Contains(out, "gap:      lsn 5..6 not held") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}
