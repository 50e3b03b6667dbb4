package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfileThroughAdminSocket takes each kind of profile from a server
// listening on its admin socket and checks that what lands in the file is
// a pprof profile of that kind, private to its owner.
func TestProfileThroughAdminSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "init", "--data", dir)

	// No server: the command says so and writes nothing.
	out := filepath.Join(t.TempDir(), "none.pprof")
	if _, err := run(t, "profile", "heap", "--data", dir, "-o", out); err == nil || !strings.Contains(err.Error(), "running server") {
		t.Fatalf("profile without a server: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("profile without a server left %s: %v", out, err)
	}

	serveAdminForTest(t, dir)

	for _, tc := range []struct {
		args []string
		want string // a sample type the profile must name
	}{
		{[]string{"heap"}, "inuse_space"},
		{[]string{"allocs"}, "alloc_space"},
		{[]string{"goroutine"}, "goroutine"},
		{[]string{"cpu", "--seconds", "1"}, "nanoseconds"},
	} {
		out := filepath.Join(t.TempDir(), tc.args[0]+".pprof")
		mustRun(t, append([]string{"profile", "--data", dir, "-o", out}, tc.args...)...)
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s profile: mode %v, want 0600", tc.args[0], st.Mode().Perm())
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s profile is not gzipped: %v", tc.args[0], err)
		}
		pb, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s profile: %v", tc.args[0], err)
		}
		if !bytes.Contains(pb, []byte(tc.want)) {
			t.Errorf("%s profile (%d bytes) does not name %q", tc.args[0], len(pb), tc.want)
		}
	}

	// Bad requests are refused before anything is written.
	if _, err := run(t, "profile", "--data", dir, "stack"); err == nil || !strings.Contains(err.Error(), "no profile") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := run(t, "profile", "--data", dir, "cpu", "--seconds", "0"); err == nil {
		t.Error("cpu --seconds 0 was accepted")
	}
}
