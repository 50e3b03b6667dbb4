package importer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// Maildir reads a Maildir, or a Maildir++ tree (subfolders ".a.b"), whose
// root maildir goes to the folder Root (INBOX when empty).
type Maildir struct {
	Dir  string
	Root string
	// MaxMessageSize: larger files are reported failed without being
	// read. Default engine.DefaultMaxMessageSize.
	MaxMessageSize int64
}

var _ Source = (*Maildir)(nil)

// Key is the absolute directory.
func (m *Maildir) Key() string {
	abs, err := filepath.Abs(m.Dir)
	if err != nil {
		return m.Dir
	}
	return "maildir:" + abs
}

// Close does nothing: files are opened one at a time.
func (m *Maildir) Close() error { return nil }

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// Folders lists the root maildir and the Maildir++ folders beside it.
func (m *Maildir) Folders(ctx context.Context) ([]Folder, error) {
	if !isMaildir(m.Dir) {
		return nil, fmt.Errorf("%s is not a maildir (no cur/ and new/)", m.Dir)
	}
	root := m.Root
	if root == "" {
		root = engine.InboxName
	}
	out := []Folder{{Name: ".", Path: root, Messages: countMessages(m.Dir)}}
	ents, err := os.ReadDir(m.Dir)
	if err != nil {
		return nil, err
	}
	var subs []Folder
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || len(n) < 2 || n[0] != '.' || n == ".." || !isMaildir(filepath.Join(m.Dir, n)) {
			continue
		}
		parts := strings.Split(n[1:], ".")
		for i, p := range parts {
			d, err := decodeMUTF7(p)
			if err != nil || p == "" {
				return nil, fmt.Errorf("maildir folder %q: bad name", n)
			}
			parts[i] = d
		}
		// Maildir++ folders are siblings of INBOX in the IMAP namespace;
		// under an explicit root they become its children.
		path := strings.Join(parts, engine.PathSep)
		if m.Root != "" {
			path = root + engine.PathSep + path
		}
		subs = append(subs, Folder{Name: n, Path: path, Messages: countMessages(filepath.Join(m.Dir, n))})
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Path < subs[j].Path })
	return append(out, subs...), nil
}

func countMessages(dir string) int64 {
	var n int64
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		n += int64(len(ents))
	}
	return n
}

// maildirFile is one message file of a folder.
type maildirFile struct {
	path   string
	unique string // the name before ":2,"
	info   string // the letters after ":2,"
	cur    bool
	mtime  time.Time
	size   int64
}

// Open lists the folder's files not named in the cursor, oldest first
// (by the delivery time in the name, then the name).
func (m *Maildir) Open(ctx context.Context, f Folder, c Cursor) (FolderReader, error) {
	dir := m.Dir
	if f.Name != "." {
		dir = filepath.Join(m.Dir, f.Name)
	}
	r := &maildirReader{max: m.MaxMessageSize, keywords: readDovecotKeywords(dir)}
	if r.max <= 0 {
		r.max = engine.DefaultMaxMessageSize
	}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			unique, info, _ := strings.Cut(e.Name(), ":")
			if c.Names[unique] {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile (a client moved it new/ -> cur/)
			}
			r.files = append(r.files, maildirFile{path: filepath.Join(dir, sub, e.Name()), unique: unique,
				info: info, cur: sub == "cur", mtime: fi.ModTime(), size: fi.Size()})
			r.bytes += fi.Size()
		}
	}
	sort.Slice(r.files, func(i, j int) bool {
		a, b := r.files[i], r.files[j]
		ta, tb := nameTime(a.unique), nameTime(b.unique)
		if ta != tb {
			return ta < tb
		}
		return a.unique < b.unique
	})
	return r, nil
}

// nameTime is the delivery time (seconds) at the start of a maildir name,
// 0 when there is none.
func nameTime(unique string) int64 {
	end := strings.IndexFunc(unique, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return 0
	}
	n, _ := strconv.ParseInt(unique[:end], 10, 64)
	return n
}

type maildirReader struct {
	files    []maildirFile
	next     int
	bytes    int64
	max      int64
	keywords map[byte]string
}

func (r *maildirReader) Restarted() bool { return false }

func (r *maildirReader) Pending() (int64, int64) { return int64(len(r.files) - r.next), r.bytes }

func (r *maildirReader) Close() error { return nil }

// minMtime: a file time before this is not a delivery time (unpacked
// without times); the name's time is used instead.
var minMtime = time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)

func (r *maildirReader) Next(ctx context.Context) (Message, error) {
	if err := ctx.Err(); err != nil {
		return Message{}, err
	}
	if r.next >= len(r.files) {
		return Message{}, io.EOF
	}
	f := r.files[r.next]
	r.next++
	r.bytes -= f.size
	unique := f.unique
	msg := Message{ID: filepath.Base(filepath.Dir(f.path)) + "/" + filepath.Base(f.path), Size: f.size,
		Advance: func(c *Cursor) {
			if c.Names == nil {
				c.Names = map[string]bool{}
			}
			c.Names[unique] = true
		}}
	msg.Date = f.mtime
	if msg.Date.Before(minMtime) {
		if t := nameTime(unique); t > 0 {
			msg.Date = time.Unix(t, 0)
		}
	}
	if f.size > r.max {
		msg.Err = fmt.Errorf("%w: %d bytes, limit %d", engine.ErrTooLarge, f.size, r.max)
		return msg, nil
	}
	body, err := readLimited(f.path, r.max)
	if err != nil {
		msg.Err = err
		return msg, nil
	}
	msg.Body, msg.Size = body, int64(len(body))
	if f.cur {
		msg.Flags = maildirFlags(f.info, r.keywords)
	}
	return msg, nil
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: over %d bytes", engine.ErrTooLarge, max)
	}
	return b, nil
}

// maildirFlags turns the info part of a name ("2,FRS") into IMAP flags.
func maildirFlags(info string, keywords map[byte]string) []string {
	letters, ok := strings.CutPrefix(info, "2,")
	if !ok {
		return nil
	}
	var out []string
	for i := 0; i < len(letters); i++ {
		switch c := letters[i]; {
		case c == 'D':
			out = append(out, engine.FlagDraft)
		case c == 'F':
			out = append(out, engine.FlagFlagged)
		case c == 'P':
			out = append(out, "$Forwarded")
		case c == 'R':
			out = append(out, engine.FlagAnswered)
		case c == 'S':
			out = append(out, engine.FlagSeen)
		case c == 'T':
			out = append(out, engine.FlagDeleted)
		case c >= 'a' && c <= 'z':
			if k, ok := keywords[c]; ok {
				out = append(out, k)
			}
		}
	}
	return out
}

// readDovecotKeywords reads a folder's dovecot-keywords file: lines
// "<index> <keyword>", index 0 being the letter a.
func readDovecotKeywords(dir string) map[byte]string {
	out := map[byte]string{}
	fh, err := os.Open(filepath.Join(dir, "dovecot-keywords"))
	if err != nil {
		return out
	}
	defer fh.Close()
	sc := bufio.NewScanner(io.LimitReader(fh, 1<<20))
	for sc.Scan() {
		num, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		n, err := strconv.Atoi(num)
		if ok && err == nil && n >= 0 && n < 26 && name != "" {
			out['a'+byte(n)] = name
		}
	}
	return out
}
