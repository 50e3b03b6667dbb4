package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm/packvol"
	"github.com/tidemark/tidemark/redolog"
)

// The tests in this file run the real binary into the edges of the command
// line: unknown subcommands, version, logs, readiness, first starts that
// fail, and restores asked for impossible times.

func TestUnknownSubcommandExits64(t *testing.T) {
	bin := buildBinary(t)
	for _, args := range [][]string{{"bogus"}, {"backup", "bogus"}, {"account", "lsit"}, {"op", "bogus"}} {
		out, code := tmRun(t, bin, args...)
		if code != exitUsage || !strings.Contains(out, `unknown command "`+args[len(args)-1]+`"`) {
			t.Errorf("tidemark %s: exit %d, want %d with \"unknown command\":\n%s", strings.Join(args, " "), code, exitUsage, out)
		}
	}
	if out, _ := tmRun(t, bin, "account", "lsit"); !strings.Contains(out, "did you mean list?") {
		t.Errorf("no suggestion for a typo:\n%s", out)
	}
	// A group without arguments still shows its help, successfully.
	if out, code := tmRun(t, bin, "backup"); code != exitOK || !strings.Contains(out, "Available Commands") {
		t.Errorf("tidemark backup: exit %d:\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	bin := buildBinary(t)
	var b buildInfo
	if err := json.Unmarshal([]byte(tm(t, bin, "version", "--json")), &b); err != nil {
		t.Fatal(err)
	}
	want := formats{RedoLogMagic: redolog.SegmentMagic, RedoLogVersion: redolog.FormatVersion,
		RedoLogMaxVersion: redolog.GapFormatVersion, EventVersion: int(event.Version),
		PrimaryPackMagic: packvol.PackMagic, PrimaryPackVer: packvol.PackVersion, PrimaryIndexVer: 2,
		BackupRepository: repository.FormatVersion}
	if b.Formats != want || b.Version == "" || b.Commit == "" || !strings.HasPrefix(b.Go, "go") {
		t.Fatalf("version --json: %+v, want formats %+v", b, want)
	}
	text := tm(t, bin, "version")
	if flag := tm(t, bin, "--version"); flag != text {
		t.Errorf("--version prints\n%s\nversion prints\n%s", flag, text)
	}
	for _, s := range []string{`"TMRL"`, "backup repository  format 3", b.Go} {
		if !strings.Contains(text, s) {
			t.Errorf("version output lacks %q:\n%s", s, text)
		}
	}
	// A commit given at link time wins over what Go embeds.
	old := commit
	commit = "0123456789abcdef"
	defer func() { commit = old }()
	if got := currentBuild().Commit; got != "0123456789abcdef" {
		t.Errorf("commit from -ldflags: %q", got)
	}
}

func TestAccountCreateWithoutPasswordSaysSo(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	out := tm(t, bin, "account", "create", "nopw@example.org", "--data", dir)
	if !strings.Contains(out, "nopw@example.org has no password") || !strings.Contains(out, "cannot log in") ||
		!strings.Contains(out, "tidemark account passwd nopw@example.org") {
		t.Errorf("account create without a password:\n%s", out)
	}
	if out := tm(t, bin, "account", "create", "pw@example.org", "--password", "x", "--data", dir); strings.Contains(out, "cannot log in") {
		t.Errorf("account create with a password warns:\n%s", out)
	}
}

// TestFirstServeFailureLeavesNothing: a first serve that cannot listen (the
// LMTP port is taken) removes the data directory and the repository it
// created, so the next attempt starts afresh; a bad address on the
// command line is refused before anything is created.
func TestFirstServeFailureLeavesNothing(t *testing.T) {
	bin := buildBinary(t)
	top := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := filepath.Join(top, "data")
	out, code := tmRun(t, bin, "serve", "--data", dir, "--lmtp", taken.Addr().String(), "--imap", freePort(t), "--imaps", "off", "--http", "off")
	if code == exitOK || !strings.Contains(out, "address already in use") {
		t.Fatalf("serve on a taken port: exit %d:\n%s", code, out)
	}
	for _, p := range []string{dir, filepath.Join(top, "tidemark-backup")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind by a failed first start:\n%s", p, out)
		}
	}
	if !strings.Contains(out, "removed what it had created") {
		t.Errorf("the failed first start does not say what it removed:\n%s", out)
	}

	// A data directory made empty beforehand (a systemd StateDirectory)
	// stays, empty.
	empty := filepath.Join(top, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, code := tmRun(t, bin, "serve", "--data", empty, "--lmtp", taken.Addr().String(), "--imap", "off", "--imaps", "off", "--http", "off"); code == exitOK {
		t.Fatal("serve on a taken port succeeded")
	}
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Errorf("empty data directory after a failed first start: %v %v", entries, err)
	}

	out, code = tmRun(t, bin, "serve", "--data", dir, "--lmtp", "not-an-address")
	if code != exitUsage || !strings.Contains(out, "--lmtp") {
		t.Fatalf("serve --lmtp not-an-address: exit %d:\n%s", code, out)
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("a refused command line created %s", dir)
	}
}

// TestConfigValidatedBeforeListeners: a configuration mistake found only
// when the IMAP server was set up used to come after the engine opened
// and LMTP listened; now serve refuses before opening anything.
func TestConfigValidatedBeforeListeners(t *testing.T) {
	bin := buildBinary(t)
	for key, edit := range map[string][2]string{
		"imap.idle_timeout":   {`idle_timeout = "30m"`, `idle_timeout = "soon"`},
		"socketmap.listen":    {`[socketmap]` + "\n" + `  listen = ""`, `[socketmap]` + "\n" + `  listen = "7027"`},
		"imap.lockout_window": {`lockout_window = "1h"`, `lockout_window = "-1h"`},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		tm(t, bin, "init", "--data", dir)
		cfgPath := filepath.Join(dir, configFile)
		raw, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), edit[0]) {
			t.Fatalf("init's configuration lacks %q", edit[0])
		}
		if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(raw), edit[0], edit[1], 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		lmtp := freePort(t)
		out, code := tmRun(t, bin, "serve", "--data", dir, "--lmtp", lmtp, "--imap", freePort(t), "--imaps", "off", "--http", "off")
		if code == exitOK || !strings.Contains(out, key) {
			t.Errorf("%s: exit %d, want a failure naming it:\n%s", key, code, out)
		}
		if strings.Contains(out, "engine open") || strings.Contains(out, "listening") {
			t.Errorf("%s: serve opened the engine or a listener before refusing the configuration:\n%s", key, out)
		}
	}
}

// TestServeLogsAndReadiness: --log-format json gives one JSON object a
// line on stderr, --log-level warn drops the info lines, and serve tells
// the service manager READY=1 once it listens and STOPPING=1 when asked
// to stop, over $NOTIFY_SOCKET.
func TestServeLogsAndReadiness(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	sock := filepath.Join(t.TempDir(), "notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	read := func() string {
		t.Helper()
		nl.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 512)
		n, _, err := nl.ReadFromUnix(buf)
		if err != nil {
			t.Fatalf("no datagram on NOTIFY_SOCKET: %v", err)
		}
		return string(buf[:n])
	}
	s := startServerEnv(t, bin, dir, append(os.Environ(), "NOTIFY_SOCKET="+sock), "--log-format", "json", "--no-backup")
	if got := read(); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	// READY comes after every listener: both answer now.
	for _, a := range []string{s.lmtp, s.imap} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatalf("after READY=1: %v", err)
		}
		c.Close()
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if got := read(); got != "STOPPING=1" {
		t.Fatalf("notification on SIGTERM %q, want STOPPING=1", got)
	}
	s.stop(t)
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(s.log.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m["msg"] == "tidemark serving" {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("%d \"tidemark serving\" lines:\n%s", lines, s.log)
	}

	// --log-level warn: no info lines.
	s = startServer(t, bin, dir, "--log-level", "warn", "--no-backup")
	s.stop(t)
	if strings.Contains(s.log.String(), "level=INFO") {
		t.Errorf("--log-level warn logged info lines:\n%s", s.log)
	}
	if out, code := tmRun(t, bin, "serve", "--data", dir, "--log-format", "xml"); code != exitUsage || !strings.Contains(out, "--log-format") {
		t.Errorf("--log-format xml: exit %d:\n%s", code, out)
	}
}

// TestRestoreTimeErrors: a time in the future, and a time before the
// account existed, are clear errors instead of a restore of something
// else.
func TestRestoreTimeErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	before := time.Now().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	s := startServer(t, bin, dir)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(tm(t, bin, "backup", "status", "--data", dir), "0 records") {
		if time.Now().After(deadline) {
			s.stop(t)
			t.Fatalf("backup did not catch up:\n%s", s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop(t)

	out, code := tmRun(t, bin, "restore", "account", "alice@example.org", "--at", before.Format(time.RFC3339),
		"--into", "old@example.org", "--data", dir)
	if code != exitNotInBackup || !strings.Contains(out, "did not exist yet at") || !strings.Contains(out, "holds it from") {
		t.Errorf("restore before the account existed: exit %d:\n%s", code, out)
	}
	future := time.Now().Add(48 * time.Hour).Format("2006-01-02 15:04")
	for _, args := range [][]string{
		{"restore", "account", "alice@example.org", "--at", future, "--into", "new@example.org"},
		{"restore", "undelete", "alice@example.org", "--from", "first", "--to", future},
		{"backup", "ls", "alice@example.org", "--at", future},
	} {
		out, code := tmRun(t, bin, append(args, "--data", dir)...)
		if code != exitUsage || !strings.Contains(out, "is in the future") {
			t.Errorf("tidemark %s: exit %d:\n%s", strings.Join(args, " "), code, out)
		}
	}
	// The same restore at a time after the creation works.
	if out, code := tmRun(t, bin, "restore", "account", "alice@example.org", "--at", "last", "--into", "new@example.org", "--data", dir); code != exitOK {
		t.Errorf("restore --at last: exit %d:\n%s", code, out)
	}
}

// TestManPages generates the manual pages and checks one per command.
func TestManPages(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "man")
	tm(t, bin, "man", dir)
	for _, name := range []string{"tidemark.1", "tidemark-serve.1", "tidemark-backup-scan.1", "tidemark-restore-account.1", "tidemark-version.1"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("man page %s: %v", name, err)
		}
		if !strings.Contains(string(b), ".TH \"TIDEMARK\" \"1\"") || !strings.Contains(string(b), ".SH NAME") {
			t.Errorf("%s is not a man page:\n%.300s", name, b)
		}
	}
	serve, _ := os.ReadFile(filepath.Join(dir, "tidemark-serve.1"))
	for _, flag := range []string{"--socketmap", "--log-level", "--no-backup"} {
		if !strings.Contains(string(serve), flag) {
			t.Errorf("tidemark-serve.1 does not document %s", flag)
		}
	}
}

// TestSystemdUnit checks dist/tidemark.service: notify readiness, a user
// of its own, the hardening options, and an ExecStart the binary accepts.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("../../dist/tidemark.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			keys[k] = v
		}
	}
	for k, v := range map[string]string{"Type": "notify", "User": "tidemark", "NoNewPrivileges": "yes",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "UMask": "0077", "KillSignal": "SIGTERM"} {
		if keys[k] != v {
			t.Errorf("%s=%q, want %q", k, keys[k], v)
		}
	}
	args := strings.Fields(keys["ExecStart"])
	if len(args) < 2 || args[1] != "serve" {
		t.Fatalf("ExecStart=%q", keys["ExecStart"])
	}
	// The flags parse: --help with them succeeds.
	bin := buildBinary(t)
	if out, err := exec.Command(bin, append(args[1:], "--help")...).CombinedOutput(); err != nil {
		t.Errorf("ExecStart's arguments: %v\n%s", err, out)
	}
	if !strings.Contains(keys["ReadWritePaths"], "/var/lib/tidemark") || !strings.HasPrefix(strings.TrimPrefix(args[3], "/var/lib/tidemark"), "/") {
		t.Errorf("the data directory %s is not under ReadWritePaths %s", args[3], keys["ReadWritePaths"])
	}
}
