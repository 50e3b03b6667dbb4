package engine

import (
	"bytes"
	"context"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/internal/mimetree"
)

// HeaderMatch matches messages whose header field Key contains Value
// (case insensitive, after RFC 2047 decoding); an empty Value matches any
// message that has the field. Address fields (From, To, Cc, Bcc, Sender,
// Reply-To) also match on their parsed addresses, "Name <mailbox@host>",
// so a comment inside an address (joe(work)@example.org) does not hide it.
type HeaderMatch struct {
	Key, Value string
}

// UIDRange is an inclusive UID range. A bound of 0 stands for "*", the
// largest UID in the folder, and the bounds may come in either order, as
// in IMAP ("5:*" with 3 as the largest UID is 3:5).
type UIDRange struct {
	Start, Stop uint32
}

// SearchCriteria select items; every field that is set must match (AND),
// zero fields match everything. It expresses every RFC 9051 search key:
//
//   - ALL: the zero value. A set that must match nothing (an empty
//     sequence set, RECENT when nothing is recent) is Not: {{}}.
//   - ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, KEYWORD and their UN-
//     forms: Flags and NotFlags. System flags match in any case, keywords
//     case-insensitively. \Recent is session state the engine does not
//     keep: the caller turns RECENT, NEW (RECENT UNSEEN) and OLD into UIDs.
//   - BEFORE, ON, SINCE: Since and Before on INTERNALDATE (ON d is Since
//     d, Before d+1 day); the caller picks the midnight of its zone.
//   - SENTBEFORE, SENTON, SENTSINCE: SentSince and SentBefore.
//   - LARGER, SMALLER: Larger and Smaller (RFC822.SIZE).
//   - HEADER, FROM, TO, CC, BCC, SUBJECT: Header.
//   - BODY, TEXT: Body and Text.
//   - UID and sequence sets: UIDs (the caller maps sequence numbers to
//     UIDs; "$" of SEARCHRES is the caller's too).
//   - NOT, OR, and a parenthesised list: Not, Or, And.
//   - MODSEQ: ModSeq.
//
// Several values of one field are ANDed (Flags all set, Body all found),
// except UIDs, whose ranges form one set; two sets that must both match
// go in And.
type SearchCriteria struct {
	Flags, NotFlags []string
	// Since (inclusive) and Before (exclusive) bound INTERNALDATE.
	Since, Before time.Time
	// SentSince and SentBefore compare the calendar date of the Date:
	// header in the sender's own time zone (RFC 9051 SENTSINCE/SENTBEFORE
	// "disregarding time and timezone") with the calendar date of the
	// bound in its own location: Since inclusive, Before exclusive. A
	// message without a Date: that parses counts as sent on 1 January
	// 1970, as in Dovecot: SENTBEFORE finds it.
	SentSince  time.Time
	SentBefore time.Time
	// Larger and Smaller are strict bounds on the size; 0 means unset
	// (SMALLER 0 matches nothing: use Not: {{}}).
	Larger, Smaller int64
	Header          []HeaderMatch
	// Body matches the decoded body: every text part with its transfer
	// encoding undone and its charset converted to UTF-8, the header of
	// every attached message, and other parts stored without a transfer
	// encoding (7bit, 8bit, binary) as stored. Text matches the decoded
	// top-level header and the same body. Both are case-insensitive
	// substring matches.
	Body, Text []string
	UIDs       []UIDRange
	And        []SearchCriteria
	Not        []SearchCriteria
	Or         [][2]SearchCriteria
	// ModSeq selects items with MODSEQ >= this (RFC 7162 SEARCH MODSEQ).
	// The engine keeps one MODSEQ per item, not per flag, so the
	// per-flag form ("/flags/\\draft" all|priv|shared) is answered with
	// this same number, as RFC 7162 section 3.1.5 requires of such a
	// server: the caller drops the entry name and type.
	ModSeq uint64
}

// Search limits: a criteria tree beyond them is refused as ErrInvalid
// before any message is read.
const (
	maxSearchNodes = 10000
	maxSearchDepth = 100
)

// Search returns the ids of the folder's items matching c (nil matches
// all), in UID order. Flags, dates, sizes, UIDs and MODSEQ are decided
// from the projection; a message's blob is read only when the rest of the
// criteria leave its answer open, and only its header when no body key
// is asked. The context is checked between messages, so a deadline
// bounds the cost.
func (e *Engine) Search(ctx context.Context, acct, folder uint64, c *SearchCriteria) ([]uint64, error) {
	items, err := e.SearchItems(ctx, acct, folder, c)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out, nil
}

// SearchAmong is Search over items the caller already holds, such as an
// IMAP session's view of a folder kept current from ChangesSince, in UID
// order: the folder is not listed again, and only the message texts the
// criteria need are read (by each item's Digest and Size). It returns the
// ids of the matching items in the order given. The items must be ones
// this engine returned to the caller for an account it serves; a text
// that can no longer be read (the message was expunged meanwhile) is an
// error, after which the caller can search the folder as stored.
func (e *Engine) SearchAmong(ctx context.Context, items []Item, c *SearchCriteria) ([]uint64, error) {
	if c == nil {
		c = &SearchCriteria{}
	}
	q, err := compileSearch(c)
	if err != nil {
		return nil, err
	}
	found, err := e.filter(ctx, q, items)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(found))
	for i, it := range found {
		out[i] = it.ID
	}
	return out, nil
}

// SearchItems is Search returning the matching items (with their UID,
// flags and MODSEQ, for ESEARCH and the MODSEQ of a CONDSTORE SEARCH
// response) instead of their ids.
func (e *Engine) SearchItems(ctx context.Context, acct, folder uint64, c *SearchCriteria) ([]Item, error) {
	if c == nil {
		c = &SearchCriteria{}
	}
	q, err := compileSearch(c)
	if err != nil {
		return nil, err
	}
	items, err := e.ListItems(ctx, acct, folder)
	if err != nil {
		return nil, err
	}
	return e.filter(ctx, q, items)
}

// BlobReader reads a message's bytes by digest, checked against it. The
// backup repository satisfies it, so the same evaluator answers SEARCH,
// SORT and THREAD over a read-only view of the backup (SearchIn, SortIn,
// ThreadIn).
type BlobReader interface {
	ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error)
}

// blobSource is where searchMsg reads bytes: the engine's volumes, or a
// BlobReader.
type blobSource interface {
	readBlob(ctx context.Context, d dedup.Digest) ([]byte, error)
	readBlobRange(ctx context.Context, d dedup.Digest, size, off, n int64) ([]byte, error)
}

// readerSource reads through a BlobReader; a range is cut from the whole
// message (readers such as the repository's return whole blobs).
type readerSource struct{ r BlobReader }

func (s readerSource) readBlob(ctx context.Context, d dedup.Digest) ([]byte, error) {
	return s.r.ReadBlob(ctx, d)
}

func (s readerSource) readBlobRange(ctx context.Context, d dedup.Digest, size, off, n int64) ([]byte, error) {
	b, err := s.r.ReadBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	return b[off:min(int64(len(b)), off+n)], nil
}

// SearchIn is SearchItems over items that are not this engine's (a
// read-only view of the backup): items in UID order, bytes read through r
// only when the criteria need them, as Search reads them.
func SearchIn(ctx context.Context, items []Item, r BlobReader, c *SearchCriteria) ([]Item, error) {
	if c == nil {
		c = &SearchCriteria{}
	}
	q, err := compileSearch(c)
	if err != nil {
		return nil, err
	}
	return filter(ctx, readerSource{r}, q, items)
}

// filter returns the items that match q, in the order given.
func (e *Engine) filter(ctx context.Context, q *query, items []Item) ([]Item, error) {
	return filter(ctx, e, q, items)
}

func filter(ctx context.Context, src blobSource, q *query, items []Item) ([]Item, error) {
	var maxUID uint32
	for _, it := range items {
		maxUID = max(maxUID, it.UID)
	}
	var out []Item
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := &searchMsg{src: src, ctx: ctx, it: it, maxUID: maxUID}
		r, err := q.eval(m, false)
		if err == nil && r == unknown {
			r, err = q.eval(m, true)
		}
		if err != nil {
			return nil, err
		}
		if r == yes {
			out = append(out, it)
		}
	}
	return out, nil
}

// tri is the answer of a criterion when the message text may not be
// known yet.
type tri int8

const (
	no tri = iota
	yes
	unknown
)

// query is SearchCriteria compiled once per search: needles lower-cased,
// flags canonical, header names lower-cased.
type query struct {
	flags, notFlags []flagTest
	since, before   int64 // unix ns; 0 unset
	sentSince       time.Time
	sentBefore      time.Time
	larger, smaller int64
	uids            []UIDRange
	modseq          uint64
	header          []headerTest
	body, text      []string
	and, not        []*query
	or              [][2]*query
}

type flagTest struct {
	name    string
	keyword bool // match case-insensitively
}

type headerTest struct {
	name, value string // lower case
}

func compileSearch(c *SearchCriteria) (*query, error) {
	n := 0
	return compileNode(c, 0, &n)
}

func compileNode(c *SearchCriteria, depth int, n *int) (*query, error) {
	*n++
	if *n > maxSearchNodes || depth > maxSearchDepth {
		return nil, invalidf("search criteria nested deeper than %d or with more than %d keys", maxSearchDepth, maxSearchNodes)
	}
	q := &query{
		sentSince: c.SentSince, sentBefore: c.SentBefore,
		larger: c.Larger, smaller: c.Smaller, uids: c.UIDs, modseq: c.ModSeq,
	}
	if !c.Since.IsZero() {
		q.since = c.Since.UnixNano()
	}
	if !c.Before.IsZero() {
		q.before = c.Before.UnixNano()
	}
	for _, f := range c.Flags {
		q.flags = append(q.flags, flagTestOf(f))
	}
	for _, f := range c.NotFlags {
		q.notFlags = append(q.notFlags, flagTestOf(f))
	}
	for _, h := range c.Header {
		q.header = append(q.header, headerTest{strings.ToLower(strings.TrimSpace(h.Key)), strings.ToLower(h.Value)})
	}
	for _, s := range c.Body {
		q.body = append(q.body, strings.ToLower(s))
	}
	for _, s := range c.Text {
		q.text = append(q.text, strings.ToLower(s))
	}
	for i := range c.And {
		s, err := compileNode(&c.And[i], depth+1, n)
		if err != nil {
			return nil, err
		}
		q.and = append(q.and, s)
	}
	for i := range c.Not {
		s, err := compileNode(&c.Not[i], depth+1, n)
		if err != nil {
			return nil, err
		}
		q.not = append(q.not, s)
	}
	for i := range c.Or {
		a, err := compileNode(&c.Or[i][0], depth+1, n)
		if err != nil {
			return nil, err
		}
		b, err := compileNode(&c.Or[i][1], depth+1, n)
		if err != nil {
			return nil, err
		}
		q.or = append(q.or, [2]*query{a, b})
	}
	return q, nil
}

func flagTestOf(f string) flagTest {
	if strings.HasPrefix(f, `\`) {
		return flagTest{name: canonOne(f)}
	}
	return flagTest{name: f, keyword: true}
}

func (t flagTest) in(flags []string) bool {
	for _, f := range flags {
		if f == t.name || t.keyword && strings.EqualFold(f, t.name) {
			return true
		}
	}
	return false
}

// eval answers q for m. With deep false nothing is read: criteria on the
// message text answer unknown. With deep true the text is read as needed.
func (q *query) eval(m *searchMsg, deep bool) (tri, error) {
	it := &m.it
	for _, f := range q.flags {
		if !f.in(it.Flags) {
			return no, nil
		}
	}
	for _, f := range q.notFlags {
		if f.in(it.Flags) {
			return no, nil
		}
	}
	date := it.InternalDate.UnixNano()
	if q.since != 0 && date < q.since || q.before != 0 && date >= q.before {
		return no, nil
	}
	if q.larger > 0 && it.Size <= q.larger || q.smaller > 0 && it.Size >= q.smaller {
		return no, nil
	}
	if q.modseq > 0 && it.ModSeq < q.modseq {
		return no, nil
	}
	if len(q.uids) > 0 && !uidIn(q.uids, it.UID, m.maxUID) {
		return no, nil
	}
	res := yes
	for _, s := range q.and {
		r, err := s.eval(m, deep)
		if err != nil || r == no {
			return no, err
		}
		if r == unknown {
			res = unknown
		}
	}
	for _, s := range q.not {
		r, err := s.eval(m, deep)
		if err != nil || r == yes {
			return no, err
		}
		if r == unknown {
			res = unknown
		}
	}
	for _, pair := range q.or {
		a, err := pair[0].eval(m, deep)
		if err != nil {
			return no, err
		}
		if a == yes {
			continue
		}
		b, err := pair[1].eval(m, deep)
		if err != nil {
			return no, err
		}
		switch {
		case b == yes:
		case a == no && b == no:
			return no, nil
		default:
			res = unknown
		}
	}
	if !q.needsText() {
		return res, nil
	}
	if !deep {
		return unknown, nil
	}
	ok, err := q.matchText(m)
	if err != nil || !ok {
		return no, err
	}
	return res, nil
}

func (q *query) needsText() bool {
	return len(q.header) > 0 || len(q.body) > 0 || len(q.text) > 0 || !q.sentSince.IsZero() || !q.sentBefore.IsZero()
}

func (q *query) matchText(m *searchMsg) (bool, error) {
	if len(q.header) > 0 || !q.sentSince.IsZero() || !q.sentBefore.IsZero() {
		if err := m.loadHeader(); err != nil {
			return false, err
		}
	}
	for _, h := range q.header {
		if !m.headerHas(h) {
			return false, nil
		}
	}
	if !q.sentSince.IsZero() || !q.sentBefore.IsZero() {
		v, _ := firstField(m.allFields(), "date")
		sent, ok := sentDate(v)
		if !ok {
			sent = time.Unix(0, 0).UTC()
		}
		// The date as the sender wrote it, not as it falls in UTC.
		y, mo, dd := sent.Date()
		d := time.Date(y, mo, dd, 0, 0, 0, 0, time.UTC)
		if !q.sentSince.IsZero() && d.Before(dayOf(q.sentSince)) {
			return false, nil
		}
		if !q.sentBefore.IsZero() && !d.Before(dayOf(q.sentBefore)) {
			return false, nil
		}
	}
	if len(q.body) > 0 || len(q.text) > 0 {
		if err := m.loadText(); err != nil {
			return false, err
		}
	}
	for _, s := range q.body {
		if !strings.Contains(m.bodyText, s) {
			return false, nil
		}
	}
	for _, s := range q.text {
		if !strings.Contains(m.headerText, s) && !strings.Contains(m.bodyText, s) {
			return false, nil
		}
	}
	return true, nil
}

// dayOf is the calendar date of t in its own location, as a UTC midnight.
func dayOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func uidIn(rs []UIDRange, uid, maxUID uint32) bool {
	for _, r := range rs {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = maxUID
		}
		if hi == 0 {
			hi = maxUID
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if uid >= lo && uid <= hi {
			return true
		}
	}
	return false
}

// headerPeek is how much of a large message is read to find its header
// without reading the whole blob.
const (
	headerPeek    = 32 << 10
	headerPeekMin = 128 << 10 // messages smaller than this are read whole
)

// searchMsg is one message being matched: the item, and what has been
// read and derived from its blob so far.
type searchMsg struct {
	src    blobSource
	ctx    context.Context
	it     Item
	maxUID uint32

	raw    []byte       // the whole message, once read
	header []byte       // its header block
	he     *headerEntry // header came from the cache: its decoded fields are kept there
	cache  *headerCache
	fields []hfield // parsed from header when first needed (allFields)
	hdrOK  bool

	textOK               bool
	headerText, bodyText string // decoded and lower-cased
}

// loadHeader reads the header: from the engine's header cache, or from
// the first bytes of a large message when the header ends there, else
// with the whole message.
func (m *searchMsg) loadHeader() error {
	if m.hdrOK {
		return nil
	}
	if e, ok := m.src.(*Engine); ok && m.raw == nil {
		// The engine's header cache, shared by every search and FETCH.
		he, err := e.header(m.ctx, m.it.Digest, m.it.Size)
		if err != nil {
			return err
		}
		m.header, m.fields, m.hdrOK = he.raw, nil, true
		m.he, m.cache = he, e.headers
		return nil
	}
	if m.raw == nil && m.it.Size >= headerPeekMin {
		head, err := m.src.readBlobRange(m.ctx, m.it.Digest, m.it.Size, 0, headerPeek)
		if err != nil {
			return err
		}
		if n, ok := headerEnd(head); ok {
			m.setHeader(head[:n])
			return nil
		}
	}
	if err := m.loadRaw(); err != nil {
		return err
	}
	n, _ := headerEnd(m.raw)
	m.setHeader(m.raw[:n])
	return nil
}

func (m *searchMsg) setHeader(h []byte) {
	m.header, m.fields, m.hdrOK = h, nil, true
	m.he = nil
}

func (m *searchMsg) loadRaw() error {
	if m.raw != nil {
		return nil
	}
	raw, err := m.src.readBlob(m.ctx, m.it.Digest)
	if err != nil {
		return err
	}
	if raw == nil {
		raw = []byte{}
	}
	m.raw = raw
	return nil
}

// allFields returns the header's fields, parsed on first use (a header
// search matches on the raw header without parsing every field).
func (m *searchMsg) allFields() []hfield {
	if m.fields == nil && m.hdrOK {
		m.fields = parseFields(m.header)
		if m.fields == nil {
			m.fields = []hfield{}
		}
	}
	return m.fields
}

// headerHas reports whether a field named h.name contains h.value: one of
// its decoded values, or for an address field one of its addresses (an
// empty h.value: whether there is such a field). A header from the
// engine's cache keeps what it compares.
func (m *searchMsg) headerHas(h headerTest) bool {
	var vals []string
	if m.he != nil {
		vals = m.cache.fieldTexts(m.he, h.name)
	} else {
		vals, _ = searchTexts(m.header, h.name)
	}
	if h.value == "" {
		return len(vals) > 0
	}
	for _, v := range vals {
		if strings.Contains(v, h.value) {
			return true
		}
	}
	return false
}

// loadText fills headerText and bodyText (see SearchCriteria.Body).
func (m *searchMsg) loadText() error {
	if m.textOK {
		return nil
	}
	if err := m.loadRaw(); err != nil {
		return err
	}
	if !m.hdrOK {
		n, _ := headerEnd(m.raw)
		m.setHeader(m.raw[:n])
	}
	m.textOK = true
	var hb strings.Builder
	for _, f := range m.allFields() {
		hb.WriteString(f.name)
		hb.WriteString(": ")
		hb.WriteString(decodeWords(f.value))
		hb.WriteByte('\n')
	}
	m.headerText = strings.ToLower(hb.String())
	m.bodyText = strings.ToLower(string(bodyText(m.raw)))
	return nil
}

// bodyText is the searchable body of raw: see SearchCriteria.Body. The
// parse is internal/mimetree's, bounded in depth and parts.
func bodyText(raw []byte) []byte {
	t := mimetree.Parse(raw, mimetree.Limits{})
	var out []byte
	var walk func(p *mimetree.Part)
	walk = func(p *mimetree.Part) {
		switch {
		case p.IsMultipart():
			for _, c := range p.Children {
				walk(c)
			}
		case p.Message != nil:
			for _, f := range parseFields(t.Header(p.Message)) {
				out = append(out, f.name...)
				out = append(out, ": "...)
				out = append(out, decodeWords(f.value)...)
				out = append(out, '\n')
			}
			walk(p.Message)
		case p.Type == "text":
			if b, err := mimetree.Decode(t.Body(p), p.Encoding); err == nil {
				out = append(appendUTF8(out, b, p.Params["charset"]), '\n')
			}
		default:
			switch strings.ToLower(strings.TrimSpace(p.Encoding)) {
			case "", "7bit", "8bit", "binary":
				out = append(append(out, t.Body(p)...), '\n')
			}
		}
	}
	walk(t.Root)
	return out
}

// canonOne canonicalises one flag for matching; unknown spellings match
// nothing rather than failing the search.
func canonOne(f string) string {
	if c, ok := systemFlags[strings.ToLower(f)]; ok {
		return c
	}
	return f
}

// maxConvert bounds the text converted from one part's charset; the rest
// of a huge part is searched as stored.
const maxConvert = 16 << 20

// appendUTF8 appends text in charset to dst as UTF-8: UTF-8, US-ASCII
// and unnamed text as stored, any charset go-message knows converted, an
// unknown one as stored.
func appendUTF8(dst, text []byte, cs string) []byte {
	cs = strings.ToLower(strings.TrimSpace(cs))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return append(dst, text...)
	case "iso-8859-1", "latin1", "iso_8859-1":
		for _, c := range text {
			dst = utf8.AppendRune(dst, rune(c))
		}
		return dst
	}
	n := min(len(text), maxConvert)
	r, err := charset.Reader(cs, bytes.NewReader(text[:n]))
	if err != nil {
		return append(dst, text...)
	}
	conv, err := io.ReadAll(r)
	if err != nil {
		return append(dst, text...)
	}
	return append(append(dst, conv...), text[n:]...)
}
