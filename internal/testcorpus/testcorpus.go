// Package testcorpus finds and reads the shared mail corpus for tests and
// benchmarks: ~8,000 real messages packed as maildirs in .tar.zst archives
// (realistic/) and ~550 malformed messages (malformed/).
//
// The corpus lives outside the repository. It is found at $TIDEMARK_CORPUS,
// else at shared/corpus beside the checkout. When it is absent the caller
// is skipped with a message saying where it was looked for, unless
// TIDEMARK_REQUIRE_CORPUS=1 (set by CI when the corpus is present), which
// turns the skip into a failure.
package testcorpus

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// File is one message of the corpus.
type File struct {
	Name string // path inside its directory or archive
	Data []byte // bytes exactly as stored (LF line endings)
}

// Root returns the corpus directory, or skips tb when it is absent.
func Root(tb testing.TB) string {
	tb.Helper()
	var tried []string
	if dir := os.Getenv("TIDEMARK_CORPUS"); dir != "" {
		if isDir(dir) {
			return dir
		}
		tried = append(tried, dir)
	} else if top, ok := moduleRoot(); ok {
		dir := filepath.Join(filepath.Dir(top), "shared", "corpus")
		if isDir(dir) {
			return dir
		}
		tried = append(tried, dir)
	}
	missing(tb, "mail corpus not found at %s; set TIDEMARK_CORPUS to its directory", strings.Join(tried, ", "))
	return ""
}

func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("TIDEMARK_REQUIRE_CORPUS") == "1" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// moduleRoot walks up from the working directory (a test runs in its
// package directory) to the directory holding go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Malformed returns every malformed message: the .eml files and, with
// mbox, the .mbox files too, sorted by name.
func Malformed(tb testing.TB, mbox bool) []File {
	tb.Helper()
	dir := filepath.Join(Root(tb), "malformed")
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		tb.Fatal(err)
	}
	if mbox {
		more, _ := filepath.Glob(filepath.Join(dir, "mbox", "*.mbox"))
		names = append(names, more...)
	}
	if len(names) == 0 {
		missing(tb, "no malformed messages in %s", dir)
	}
	sort.Strings(names)
	files := make([]File, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, n)
		files = append(files, File{Name: rel, Data: b})
	}
	return files
}

// Archives lists the realistic corpus archives (base names).
func Archives(tb testing.TB) []string {
	tb.Helper()
	names, _ := filepath.Glob(filepath.Join(Root(tb), "realistic", "*.tar.zst"))
	if len(names) == 0 {
		missing(tb, "no realistic corpus archives in %s", filepath.Join(Root(tb), "realistic"))
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	sort.Strings(names)
	return names
}

// Realistic returns the messages of the named archives (all of them when
// none is named), in archive order, which is chronological within each.
// Only maildir messages are returned, not the archives' index files.
func Realistic(tb testing.TB, archives ...string) []File {
	tb.Helper()
	if len(archives) == 0 {
		archives = Archives(tb)
	}
	var out []File
	for _, a := range archives {
		msgs, err := readArchive(filepath.Join(Root(tb), "realistic", a))
		if err != nil {
			tb.Fatalf("corpus archive %s: %v", a, err)
		}
		out = append(out, msgs...)
	}
	return out
}

func readArchive(path string) ([]File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var out []File
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || !isMaildirMessage(h.Name) {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: h.Name, Data: b})
	}
}

func isMaildirMessage(name string) bool {
	d := filepath.Base(filepath.Dir(name))
	return d == "new" || d == "cur"
}

// CRLF returns b with every bare LF turned into CRLF, as messages travel
// over SMTP, LMTP and IMAP.
func CRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/40)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
