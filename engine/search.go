package engine

import (
	"bufio"
	"bytes"
	"context"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidemark/tidemark/internal/mimetree"
)

// HeaderMatch matches messages whose header Key contains Value (case
// insensitive); an empty Value matches any message that has the header.
type HeaderMatch struct {
	Key, Value string
}

// UIDRange is an inclusive UID range; Stop 0 means "to the last UID" (*).
type UIDRange struct {
	Start, Stop uint32
}

// SearchCriteria are ANDed; zero fields match everything. Body searches
// the text after the header, Text the header and that text, both case
// insensitive substrings of the raw bytes or of the decoded text: every
// text part with its transfer encoding (base64, quoted-printable) undone,
// found by internal/mimetree's bounded parse, and the header with its
// RFC 2047 encoded words decoded.
type SearchCriteria struct {
	Flags, NotFlags []string
	Since, Before   time.Time // internal date: Since inclusive, Before exclusive (day granularity is the caller's)
	// SentSince and SentBefore compare the calendar date of the Date:
	// header in the sender's own time zone (RFC 9051 SENTSINCE/SENTBEFORE
	// "disregarding time and timezone") with the UTC calendar date of the
	// bound: Since inclusive, Before exclusive.
	SentSince       time.Time
	SentBefore      time.Time
	Larger, Smaller int64
	Header          []HeaderMatch
	Body, Text      []string
	UIDs            []UIDRange
	Not             []SearchCriteria
	Or              [][2]SearchCriteria
	ModSeq          uint64 // items with MODSEQ >= this
}

// Search returns the ids of the folder's items matching c, in UID order.
// Blobs are read only when a criterion needs the message text.
func (e *Engine) Search(ctx context.Context, acct, folder uint64, c *SearchCriteria) ([]uint64, error) {
	items, err := e.ListItems(ctx, acct, folder)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = &SearchCriteria{}
	}
	var out []uint64
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := &searchMsg{e: e, ctx: ctx, it: it}
		ok, err := m.match(c)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it.ID)
		}
	}
	return out, nil
}

// searchMsg lazily loads and parses one message for matching.
type searchMsg struct {
	e      *Engine
	ctx    context.Context
	it     Item
	raw    []byte
	header textproto.MIMEHeader
	body   []byte
	loaded bool

	decoded                  bool
	decodedHeader, plainText []byte
}

// decode fills decodedHeader and plainText (see SearchCriteria) once.
func (m *searchMsg) decode() {
	if m.decoded {
		return
	}
	m.decoded = true
	t := mimetree.Parse(m.raw, mimetree.Limits{})
	h := t.Header(t.Root)
	if d, err := new(mime.WordDecoder).DecodeHeader(string(h)); err == nil {
		m.decodedHeader = []byte(d)
	} else {
		m.decodedHeader = h
	}
	var walk func(p *mimetree.Part)
	walk = func(p *mimetree.Part) {
		switch {
		case p.IsMultipart():
			for _, c := range p.Children {
				walk(c)
			}
		case p.Message != nil:
			mh := t.Header(p.Message)
			if d, err := new(mime.WordDecoder).DecodeHeader(string(mh)); err == nil {
				m.plainText = append(m.plainText, d...)
			} else {
				m.plainText = append(m.plainText, mh...)
			}
			walk(p.Message)
		case p.Type == "text":
			if b, err := mimetree.Decode(t.Body(p), p.Encoding); err == nil {
				m.plainText = append(appendUTF8(m.plainText, b, p.Params["charset"]), '\n')
			}
		}
	}
	walk(t.Root)
}

func (m *searchMsg) load() error {
	if m.loaded {
		return nil
	}
	raw, err := m.e.readBlob(m.ctx, m.it.Digest)
	if err != nil {
		return err
	}
	m.raw, m.loaded = raw, true
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	h, _ := r.ReadMIMEHeader() // a malformed header still gives what parsed
	m.header = h
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		m.body = raw[i+4:]
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		m.body = raw[i+2:]
	}
	return nil
}

func containsFold(hay []byte, needle string) bool {
	return bytes.Contains(bytes.ToLower(hay), []byte(strings.ToLower(needle)))
}

func (m *searchMsg) match(c *SearchCriteria) (bool, error) {
	it := m.it
	for _, f := range c.Flags {
		if !hasFlag(it.Flags, canonOne(f)) {
			return false, nil
		}
	}
	for _, f := range c.NotFlags {
		if hasFlag(it.Flags, canonOne(f)) {
			return false, nil
		}
	}
	if !c.Since.IsZero() && it.InternalDate.Before(c.Since) {
		return false, nil
	}
	if !c.Before.IsZero() && !it.InternalDate.Before(c.Before) {
		return false, nil
	}
	if c.Larger > 0 && it.Size <= c.Larger {
		return false, nil
	}
	if c.Smaller > 0 && it.Size >= c.Smaller {
		return false, nil
	}
	if c.ModSeq > 0 && it.ModSeq < c.ModSeq {
		return false, nil
	}
	if len(c.UIDs) > 0 {
		in := false
		for _, r := range c.UIDs {
			stop := r.Stop
			if stop == 0 {
				stop = ^uint32(0)
			}
			lo, hi := r.Start, stop
			if lo > hi {
				lo, hi = hi, lo
			}
			if it.UID >= lo && it.UID <= hi {
				in = true
				break
			}
		}
		if !in {
			return false, nil
		}
	}
	if len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		if err := m.load(); err != nil {
			return false, err
		}
		for _, h := range c.Header {
			vals, ok := m.header[textproto.CanonicalMIMEHeaderKey(h.Key)]
			if !ok {
				return false, nil
			}
			found := h.Value == ""
			for _, v := range vals {
				if !found && containsFold([]byte(v), h.Value) {
					found = true
				}
			}
			if !found {
				return false, nil
			}
		}
		for _, s := range c.Body {
			if !containsFold(m.body, s) {
				if m.decode(); !containsFold(m.plainText, s) {
					return false, nil
				}
			}
		}
		for _, s := range c.Text {
			if !containsFold(m.raw, s) {
				if m.decode(); !containsFold(m.decodedHeader, s) && !containsFold(m.plainText, s) {
					return false, nil
				}
			}
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			sent, err := mail.ParseDate(m.header.Get("Date"))
			if err != nil {
				return false, nil
			}
			// The date as the sender wrote it, not as it falls in UTC.
			y, mo, dd := sent.Date()
			d := time.Date(y, mo, dd, 0, 0, 0, 0, time.UTC)
			if !c.SentSince.IsZero() && d.Before(c.SentSince) {
				return false, nil
			}
			if !c.SentBefore.IsZero() && !d.Before(c.SentBefore) {
				return false, nil
			}
		}
	}
	for i := range c.Not {
		ok, err := m.match(&c.Not[i])
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		a, err := m.match(&c.Or[i][0])
		if err != nil {
			return false, err
		}
		if !a {
			b, err := m.match(&c.Or[i][1])
			if err != nil || !b {
				return false, err
			}
		}
	}
	return true, nil
}

// canonOne canonicalises one flag for matching; unknown spellings match
// nothing rather than failing the search.
func canonOne(f string) string {
	if c, ok := systemFlags[strings.ToLower(f)]; ok {
		return c
	}
	return f
}

// appendUTF8 appends text in charset to dst as UTF-8 where the conversion
// is known without tables (ISO-8859-1 and its Windows superset for
// letters); any other charset is appended as stored.
func appendUTF8(dst, text []byte, charset string) []byte {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "iso_8859-1", "windows-1252", "cp1252":
		for _, c := range text {
			dst = utf8.AppendRune(dst, rune(c))
		}
		return dst
	}
	return append(dst, text...)
}
