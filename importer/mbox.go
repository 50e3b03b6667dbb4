package importer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// Quoting is how an mbox writer protected body lines that start "From ";
// see doc.go.
type Quoting string

// mbox quoting conventions.
const (
	MboxRD Quoting = "mboxrd"
	MboxO  Quoting = "mboxo"
)

// Mbox reads one mbox file or a directory of them. A file becomes the
// folder Folder when set (else its name without ".mbox"/".mbx", "inbox"
// becoming INBOX); in a directory every mbox file becomes a folder named
// by its path below the directory (Thunderbird's "X.sbd" directories
// holding the children of X), under Folder when set. Files that do not
// start with a "From " line are left out of a directory.
type Mbox struct {
	Path           string
	Folder         string
	Quoting        Quoting // default MboxRD
	MaxMessageSize int64   // default engine.DefaultMaxMessageSize
}

var _ Source = (*Mbox)(nil)

// Key is the absolute path.
func (m *Mbox) Key() string {
	abs, err := filepath.Abs(m.Path)
	if err != nil {
		return m.Path
	}
	return "mbox:" + abs
}

// Close does nothing: each folder's reader holds its own file.
func (m *Mbox) Close() error { return nil }

// Folders lists the mbox files.
func (m *Mbox) Folders(ctx context.Context) ([]Folder, error) {
	if m.Quoting != "" && m.Quoting != MboxRD && m.Quoting != MboxO {
		return nil, fmt.Errorf("unknown mbox quoting %q (mboxrd or mboxo)", m.Quoting)
	}
	st, err := os.Stat(m.Path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if ok, err := looksLikeMbox(m.Path); err != nil || !ok {
			if err == nil {
				err = errors.New(`does not start with a "From " line`)
			}
			return nil, fmt.Errorf("%s is not an mbox file: %w", m.Path, err)
		}
		path := m.Folder
		if path == "" {
			path = mboxFolderName(filepath.Base(m.Path))
		}
		return []Folder{{Name: filepath.Base(m.Path), Path: path}}, nil
	}
	var out []Folder
	err = filepath.WalkDir(m.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if ok, err := looksLikeMbox(p); err != nil || !ok {
			return err
		}
		rel, _ := filepath.Rel(m.Path, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i, s := range parts {
			if i < len(parts)-1 {
				parts[i] = strings.TrimSuffix(s, ".sbd")
			} else {
				parts[i] = mboxFolderName(s)
			}
		}
		path := strings.Join(parts, engine.PathSep)
		if m.Folder != "" {
			path = m.Folder + engine.PathSep + path
		}
		out = append(out, Folder{Name: filepath.ToSlash(rel), Path: path})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func mboxFolderName(base string) string {
	for _, ext := range []string{".mbox", ".mbx"} {
		base = strings.TrimSuffix(base, ext)
	}
	if strings.EqualFold(base, engine.InboxName) {
		return engine.InboxName
	}
	return base
}

func looksLikeMbox(path string) (bool, error) {
	fh, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	var head [5]byte
	n, _ := io.ReadFull(fh, head[:])
	return n == 5 && string(head[:]) == "From ", nil
}

// Open reads the folder's file from the cursor when the bytes before it
// are unchanged, else from the start.
func (m *Mbox) Open(ctx context.Context, f Folder, c Cursor) (FolderReader, error) {
	path := m.Path
	if st, err := os.Stat(m.Path); err == nil && st.IsDir() {
		path = filepath.Join(m.Path, filepath.FromSlash(f.Name))
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	r := &mboxReader{fh: fh, h: sha256.New(), quoting: m.Quoting, max: m.MaxMessageSize, mtime: st.ModTime(), size: st.Size()}
	if r.quoting == "" {
		r.quoting = MboxRD
	}
	if r.max <= 0 {
		r.max = engine.DefaultMaxMessageSize
	}
	if c.Next > 0 {
		if int64(c.Next) <= st.Size() {
			if _, err := io.CopyN(r.h, fh, int64(c.Next)); err != nil {
				fh.Close()
				return nil, err
			}
		}
		if int64(c.Next) <= st.Size() && hex.EncodeToString(r.h.Sum(nil)) == c.Prefix {
			r.off = int64(c.Next)
			r.resumed = true
		} else {
			// Rewritten (a message deleted, the file compacted): read it all
			// again; the import compares with the whole folder.
			if _, err := fh.Seek(0, io.SeekStart); err != nil {
				fh.Close()
				return nil, err
			}
			r.h.Reset()
			r.restarted = true
		}
	}
	r.br = bufio.NewReaderSize(fh, 256<<10)
	return r, nil
}

type mboxReader struct {
	fh        *os.File
	br        *bufio.Reader
	h         hash.Hash
	quoting   Quoting
	max       int64
	mtime     time.Time
	size      int64
	off       int64 // offset of the next line to read
	resumed   bool  // started at a cursor: blank lines before the first "From " are framing
	restarted bool
	eof       bool

	// The message being read: its "From " line is done.
	started   bool
	id        string
	date      time.Time
	body      []byte
	bodySize  int64 // bytes after unquoting, also past max
	lastLen   int64 // length of the last body line
	lastKept  bool  // the last body line is in body (it was within max)
	prevEmpty bool
	line      []byte // a line longer than the reader's buffer, assembled
	// fromPrefix is the digest of the file's bytes before the last line
	// that started "From ".
	fromPrefix string
}

func (r *mboxReader) Restarted() bool { return r.restarted }

func (r *mboxReader) Pending() (int64, int64) { return -1, r.size - r.off }

func (r *mboxReader) Close() error { return r.fh.Close() }

// maxFromLine bounds the length of a line taken for a "From " separator.
const maxFromLine = 1000

// readLine returns the next line with its ending, valid until the next
// call, and its full length n. A line longer than the message size limit
// is returned cut (its message is too large anyway), so memory stays
// bounded whatever the file holds. Every byte read goes into the running
// digest; fromPrefix is set to the digest before a line starting "From ".
func (r *mboxReader) readLine() (l []byte, n int64, err error) {
	l, err = r.br.ReadSlice('\n')
	if bytes.HasPrefix(l, []byte("From ")) {
		r.fromPrefix = hex.EncodeToString(r.h.Sum(nil))
	}
	r.h.Write(l)
	n = int64(len(l))
	if err == bufio.ErrBufferFull {
		r.line = append(r.line[:0], l...)
		for err == bufio.ErrBufferFull {
			l, err = r.br.ReadSlice('\n')
			r.h.Write(l)
			n += int64(len(l))
			if int64(len(r.line)) <= r.max {
				r.line = append(r.line, l...)
			}
		}
		l = r.line
	}
	if err == io.EOF && n > 0 {
		err = nil
	}
	return l, n, err
}

func isEmptyLine(l []byte) bool {
	return len(l) == 1 && l[0] == '\n' || len(l) == 2 && l[0] == '\r' && l[1] == '\n'
}

func (r *mboxReader) Next(ctx context.Context) (Message, error) {
	if err := ctx.Err(); err != nil {
		return Message{}, err
	}
	for !r.eof {
		off := r.off
		l, n, err := r.readLine()
		if err == io.EOF {
			r.eof = true
			break
		}
		if err != nil {
			return Message{}, fmt.Errorf("read %s at offset %d: %w", r.fh.Name(), off, err)
		}
		boundary := bytes.HasPrefix(l, []byte("From ")) && n <= maxFromLine && (off == 0 || r.prevEmpty || (r.resumed && !r.started))
		var date time.Time
		if boundary {
			var ok bool
			date, ok = parseFromLine(l)
			boundary = ok || off == 0 || (r.resumed && !r.started)
		}
		var out Message
		done := false
		if boundary && r.started {
			if r.prevEmpty {
				r.dropLastLine()
			}
			out, done = r.finish(off, r.fromPrefix), true
		}
		r.off += n
		switch {
		case boundary:
			r.started, r.id, r.date = true, fmt.Sprintf("offset %d", off), date
			r.body, r.bodySize, r.lastLen = r.body[:0:0], 0, 0
			r.prevEmpty = false
		case !r.started:
			if isEmptyLine(l) && r.resumed {
				continue
			}
			return Message{}, fmt.Errorf("%s: no \"From \" line at offset %d", r.fh.Name(), off)
		default:
			r.add(l, n)
			r.prevEmpty = isEmptyLine(l)
		}
		if done {
			return out, nil
		}
	}
	if !r.started {
		return Message{}, io.EOF
	}
	if r.prevEmpty {
		r.dropLastLine()
	}
	r.started = false
	return r.finish(r.off, hex.EncodeToString(r.h.Sum(nil))), nil
}

// add appends one body line of full length n, unquoted.
func (r *mboxReader) add(l []byte, n int64) {
	if d := quoteDepth(l); d > 0 && (r.quoting == MboxRD || d == 1) {
		l, n = l[1:], n-1
	}
	r.bodySize += n
	r.lastLen, r.lastKept = n, false
	if r.bodySize <= r.max {
		r.body = append(r.body, l...)
		r.lastKept = true
	}
}

// quoteDepth is the number of ">" before "From " at the start of l, 0
// when l is not a quoted From line.
func quoteDepth(l []byte) int {
	n := 0
	for n < len(l) && l[n] == '>' {
		n++
	}
	if n > 0 && bytes.HasPrefix(l[n:], []byte("From ")) {
		return n
	}
	return 0
}

// dropLastLine takes the last body line back out: it was the empty line
// that frames the next message.
func (r *mboxReader) dropLastLine() {
	r.bodySize -= r.lastLen
	if r.lastKept {
		r.body = r.body[:int64(len(r.body))-r.lastLen]
	}
	r.lastLen, r.lastKept = 0, false
}

// finish turns the message read so far into a Message whose cursor
// position is end (the offset of the next "From " line, or the end of the
// file) with prefix the digest of the bytes before it.
func (r *mboxReader) finish(end int64, prefix string) Message {
	next := uint64(end)
	m := Message{ID: r.id, Size: r.bodySize, Advance: func(c *Cursor) { c.Next, c.Prefix = next, prefix }}
	if r.bodySize > r.max {
		m.Err = fmt.Errorf("%w: %d bytes, limit %d", engine.ErrTooLarge, r.bodySize, r.max)
		return m
	}
	m.Body = r.body
	r.body = nil
	var hdrDate time.Time
	m.Flags, hdrDate = mboxHeaderFlags(m.Body)
	m.Date = r.date
	if m.Date.IsZero() {
		m.Date = hdrDate
	}
	if m.Date.IsZero() {
		m.Date = r.mtime
	}
	return m
}

// fromLayouts are the date forms seen after "From <sender> ", with runs
// of spaces collapsed.
var fromLayouts = []string{
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 -0700 2006",
	"Mon Jan 2 15:04:05 2006 -0700",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon Jan 2 15:04:05 2006 MST",
	"Mon Jan 2 15:04 2006",
	"Mon, 2 Jan 2006 15:04:05 -0700",
}

// parseFromLine reports whether l is an mbox "From " line and its date
// (zero when only the shape matched).
func parseFromLine(l []byte) (time.Time, bool) {
	f := strings.Fields(string(l[5:]))
	if len(f) < 2 {
		return time.Time{}, false
	}
	rest := strings.Join(f[1:], " ")
	for _, layout := range fromLayouts {
		if t, err := time.Parse(layout, rest); err == nil {
			return t.UTC(), true
		}
	}
	// Some writers vary the form; a time of day and a year are enough to
	// tell a separator from a sentence in a body.
	hasTime, hasYear := false, false
	for _, w := range f[1:] {
		if strings.Count(w, ":") >= 1 && strings.Trim(w, "0123456789:") == "" && len(w) >= 4 {
			hasTime = true
		}
		if len(w) == 4 && strings.Trim(w, "0123456789") == "" && w >= "1970" && w <= "2199" {
			hasYear = true
		}
	}
	return time.Time{}, hasTime && hasYear
}

// mboxHeaderFlags reads Status:, X-Status: and X-Keywords: from the
// header section (the first 64 KiB at most), and the Date: header.
func mboxHeaderFlags(body []byte) ([]string, time.Time) {
	if len(body) > 64<<10 {
		body = body[:64<<10]
	}
	var flags []string
	var date time.Time
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		var line []byte
		if i < 0 {
			line, body = body, nil
		} else {
			line, body = body[:i], body[i+1:]
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v := strings.TrimSpace(string(value))
		switch strings.ToLower(string(name)) {
		case "status":
			if strings.ContainsRune(v, 'R') {
				flags = append(flags, engine.FlagSeen)
			}
		case "x-status":
			for _, c := range v {
				switch c {
				case 'A':
					flags = append(flags, engine.FlagAnswered)
				case 'F':
					flags = append(flags, engine.FlagFlagged)
				case 'T':
					flags = append(flags, engine.FlagDraft)
				case 'D':
					flags = append(flags, engine.FlagDeleted)
				}
			}
		case "x-keywords":
			for _, k := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
				flags = append(flags, k)
			}
		case "date":
			if t, err := mail.ParseDate(v); err == nil {
				date = t
			}
		}
	}
	return flags, date
}
