package imap

import (
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// numKind tells sequence numbers from UIDs in SEARCH results.
type numKind int

const (
	numKindSeq numKind = iota
	numKindUID
)

func (c *conn) setArg(uid bool) (imap.NumSet, error) {
	if err := c.dec.sp(); err != nil {
		return nil, err
	}
	set, err := c.dec.numSet(uid)
	if err != nil {
		return nil, err
	}
	if seqs, ok := set.(imap.SeqSet); ok && c.sess.sel != nil {
		if err := checkSeqSet(seqs, uint32(len(c.sess.sel.msgs))); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// checkSeqSet refuses message sequence numbers above the number of
// messages the client has been told of: RFC 9051 section 9 (seq-number)
// wants a tagged BAD for them, as Dovecot answers. A range with "*" is
// still let through, in an empty mailbox too (which the RFC counts):
// clients send FETCH 1:* without looking at EXISTS, and it acts on what
// is there. UIDs that do not exist are not an error.
func checkSeqSet(set imap.SeqSet, n uint32) error {
	for _, r := range set {
		if r.Start == 0 || r.Stop == 0 {
			continue
		}
		for _, v := range []uint32{r.Start, r.Stop} {
			if v > n {
				return badf("Invalid message sequence number (the mailbox has %d messages)", n)
			}
		}
	}
	return nil
}

func (c *conn) cmdSearch(tag string, uid bool) error {
	if err := c.dec.sp(); err != nil {
		return err
	}
	opts := &imap.SearchOptions{}
	extended, err := c.dec.searchReturn(opts)
	if err != nil {
		return err
	}
	criteria, err := c.dec.searchCriteria()
	if err != nil {
		return err
	}
	kind := numKindSeq
	if uid {
		kind = numKindUID
	}
	data, err := c.sess.Search(kind, criteria, opts)
	if err != nil {
		return err
	}
	if !extended && c.enabled.Has(imap.CapIMAP4rev2) {
		extended, opts.ReturnAll = true, true
	}
	return c.write(func(e *encoder) { writeSearch(e, tag, uid, extended, opts, data) })
}

func writeSearch(e *encoder, tag string, uid, extended bool, opts *imap.SearchOptions, data *imap.SearchData) {
	if !extended {
		e.raw("* SEARCH")
		switch all := data.All.(type) {
		case imap.SeqSet:
			nums, _ := all.Nums()
			for _, n := range nums {
				e.sp().num(n)
			}
		case imap.UIDSet:
			nums, _ := all.Nums()
			for _, n := range nums {
				e.sp().num(uint32(n))
			}
		}
		if data.ModSeq != 0 {
			e.raw(" (MODSEQ ").num64(data.ModSeq).raw(")")
		}
		e.crlf()
		return
	}
	if opts.ReturnSave && !opts.ReturnMin && !opts.ReturnMax && !opts.ReturnAll && !opts.ReturnCount {
		return // RFC 5182: SAVE alone returns nothing
	}
	e.raw(`* ESEARCH (TAG `).str(tag).raw(")")
	if uid {
		e.raw(" UID")
	}
	if opts.ReturnMin && data.Count > 0 {
		e.raw(" MIN ").num(data.Min)
	}
	if opts.ReturnMax && data.Count > 0 {
		e.raw(" MAX ").num(data.Max)
	}
	if opts.ReturnAll && data.Count > 0 {
		e.raw(" ALL ").numSet(data.All)
	}
	if opts.ReturnCount {
		e.raw(" COUNT ").num(data.Count)
	}
	if data.ModSeq != 0 {
		e.raw(" MODSEQ ").num64(data.ModSeq)
	}
	e.crlf()
}

func (c *conn) cmdFetch(tag string, uid bool) error {
	set, err := c.setArg(uid)
	if err != nil {
		return err
	}
	if err := c.dec.sp(); err != nil {
		return err
	}
	req := &fetchRequest{}
	if err := c.dec.fetchItems(req); err != nil {
		return err
	}
	if uid {
		req.opts.UID = true
	}
	if req.vanished && (!uid || !req.changedSince || !c.enabled.Has(imap.CapQResync)) {
		return badf("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC")
	}
	if req.opts.ModSeq {
		c.enableCondStore()
	}
	c.alias, c.bodyToo = req.alias, req.bodyToo
	return c.sess.Fetch(c, set, req)
}

func (c *conn) cmdStore(tag string, uid bool) error {
	set, err := c.setArg(uid)
	if err != nil {
		return err
	}
	if err := c.dec.sp(); err != nil {
		return err
	}
	req := &storeRequest{uid: uid}
	if c.dec.accept('(') {
		if !c.dec.acceptFold("UNCHANGEDSINCE") {
			return badf("unknown STORE modifier")
		}
		if err := c.dec.sp(); err != nil {
			return err
		}
		n, err := c.dec.number64()
		if err != nil {
			return err
		}
		req.cond, req.unchangedSince = true, n
		if err := c.dec.expect(')'); err != nil {
			return err
		}
		if err := c.dec.sp(); err != nil {
			return err
		}
	}
	flags := &imap.StoreFlags{}
	switch {
	case c.dec.accept('+'):
		flags.Op = imap.StoreFlagsAdd
	case c.dec.accept('-'):
		flags.Op = imap.StoreFlagsDel
	}
	item, err := c.dec.attName()
	if err != nil {
		return err
	}
	switch item {
	case "FLAGS":
	case "FLAGS.SILENT":
		flags.Silent = true
	default:
		return badf("unknown STORE item %s", truncate(item, 32))
	}
	if err := c.dec.sp(); err != nil {
		return err
	}
	if b, _ := c.dec.peek(); b == '(' {
		fl, err := c.dec.flagList()
		if err != nil {
			return err
		}
		flags.Flags = fl
	} else {
		for {
			f, err := c.dec.flag()
			if err != nil {
				return err
			}
			flags.Flags = append(flags.Flags, imap.Flag(f))
			if !c.dec.accept(' ') {
				break
			}
		}
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	req.flags = flags
	if req.cond {
		c.enableCondStore()
	}
	return c.sess.Store(c, set, req)
}

func (c *conn) cmdCopy(tag string, uid bool) error {
	set, err := c.setArg(uid)
	if err != nil {
		return err
	}
	dest, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	// MOVE out of a read-only source (the backup view) copies: the
	// source keeps its messages, the destination gets them restored.
	if c.command == "MOVE" && !c.sess.sel.src.ReadOnly() {
		return c.sess.Move(c, set, dest)
	}
	data, err := c.sess.Copy(set, dest)
	if err != nil {
		return err
	}
	if data != nil && len(data.SourceUIDs) > 0 {
		c.okCode = "COPYUID"
		c.okArgs = copyUIDArgs(data)
	}
	return nil
}

func copyUIDArgs(d *imap.CopyData) string {
	var b strings.Builder
	b.WriteString(uint32String(d.UIDValidity))
	b.WriteByte(' ')
	b.WriteString(d.SourceUIDs.String())
	b.WriteByte(' ')
	b.WriteString(d.DestUIDs.String())
	return b.String()
}

func uint32String(n uint32) string { return itoa(uint64(n)) }

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Writers used by the session: untagged responses between and during
// commands.

func (c *conn) WriteExpunge(seq uint32) error {
	return c.write(func(e *encoder) { e.raw("* ").num(seq).raw(" EXPUNGE").crlf() })
}

func (c *conn) WriteNumMessages(n uint32) error {
	return c.write(func(e *encoder) { e.raw("* ").num(n).raw(" EXISTS").crlf() })
}

func (c *conn) WriteNumRecent(n uint32) error {
	if c.enabled.Has(imap.CapIMAP4rev2) {
		return nil // RECENT is gone from IMAP4rev2
	}
	return c.write(func(e *encoder) { e.raw("* ").num(n).raw(" RECENT").crlf() })
}

func (c *conn) WriteMailboxFlags(flags []imap.Flag) error {
	return c.write(func(e *encoder) { e.bytes(flagsLine(flags)) })
}

// WriteMessageFlags reports another session's flag change of m (with
// its MODSEQ once CONDSTORE is on).
func (c *conn) WriteMessageFlags(seq uint32, m *message) error {
	cs := c.condstore()
	return c.write(func(e *encoder) {
		e.raw("* ").num(seq).raw(" FETCH (UID ").num(m.uid).raw(" FLAGS ").flags(wireFlags(m))
		if cs {
			e.raw(" MODSEQ (").num64(m.modseq).raw(")")
		}
		e.raw(")").crlf()
	})
}

// WriteVanished writes "* VANISHED [(EARLIER)] uids" (RFC 7162).
func (c *conn) WriteVanished(uids imap.UIDSet, earlier bool) error {
	if len(uids) == 0 {
		return nil
	}
	return c.write(func(e *encoder) {
		e.raw("* VANISHED ")
		if earlier {
			e.raw("(EARLIER) ")
		}
		e.raw(uids.String()).crlf()
	})
}

// WriteCopyData writes MOVE's COPYUID as an untagged OK (RFC 6851).
func (c *conn) WriteCopyData(d *imap.CopyData) error {
	return c.write(func(e *encoder) {
		e.raw("* OK [COPYUID ").raw(copyUIDArgs(d)).raw("] Moved").crlf()
	})
}

// fetchResp is one "* n FETCH (...)" response being written; the write
// lock is held from CreateMessage to Close so that nothing interleaves.
type fetchResp struct {
	c   *conn
	e   *encoder
	sep bool
}

// CreateMessage starts the FETCH response of message seq.
func (c *conn) CreateMessage(seq uint32) *fetchResp {
	c.wmu.Lock()
	r := &fetchResp{c: c, e: c.enc}
	r.e.raw("* ").num(seq).raw(" FETCH (")
	return r
}

func (r *fetchResp) item(name string) *encoder {
	if r.sep {
		r.e.sp()
	}
	r.sep = true
	return r.e.raw(name)
}

func (r *fetchResp) WriteUID(uid imap.UID) { r.item("UID ").num(uint32(uid)) }

func (r *fetchResp) WriteFlags(flags []imap.Flag) { r.item("FLAGS ").flags(flags) }

func (r *fetchResp) WriteModSeq(m uint64) { r.item("MODSEQ (").num64(m).raw(")") }

func (r *fetchResp) WriteInternalDate(t time.Time) { r.item("INTERNALDATE ").date(t) }

func (r *fetchResp) WriteRFC822Size(n int64) { r.item("RFC822.SIZE ").num64(uint64(n)) }

func (r *fetchResp) WriteEnvelope(env *envelopeData) { r.item("ENVELOPE ").envelope(env) }

func (r *fetchResp) WriteBodyStructure(bs *bodyPart, extended bool) {
	if extended {
		r.item("BODYSTRUCTURE ").bodyStructure(bs, true)
		if r.c.bodyToo {
			r.item("BODY ").bodyStructure(bs, false)
		}
	} else {
		r.item("BODY ").bodyStructure(bs, false)
	}
}

// WriteBodySection writes BODY[section]<origin> with b as a literal; an
// RFC822* item is written under its own name. The bytes go out as stored
// but for NUL, which an ordinary literal cannot carry and goes out as
// 0x80 (encoder.literal); BINARY[] sends such bytes exactly, as literal8.
func (r *fetchResp) WriteBodySection(bs *imap.FetchItemBodySection, b []byte) {
	if name, ok := r.c.alias[bs]; ok {
		r.item(name).sp().literal(b, false)
		return
	}
	r.item("BODY[").section(bs.Part, bs.Specifier, bs.HeaderFields, bs.HeaderFieldsNot).raw("]")
	if bs.Partial != nil {
		r.e.raw("<").num64(uint64(bs.Partial.Offset)).raw(">")
	}
	r.e.sp().literal(b, false)
}

// WriteBinarySection writes BINARY[part]<origin>, as literal8 when the
// bytes hold a NUL.
func (r *fetchResp) WriteBinarySection(bs *imap.FetchItemBinarySection, b []byte) {
	r.item("BINARY[").section(bs.Part, imap.PartSpecifierNone, nil, nil).raw("]")
	if bs.Partial != nil {
		r.e.raw("<").num64(uint64(bs.Partial.Offset)).raw(">")
	}
	r.e.sp().literal(b, true)
}

func (r *fetchResp) WriteBinarySectionSize(bs *imap.FetchItemBinarySectionSize, n uint32) {
	r.item("BINARY.SIZE[").section(bs.Part, imap.PartSpecifierNone, nil, nil).raw("] ").num(n)
}

// Close ends the response and releases the write lock.
func (r *fetchResp) Close() error {
	defer r.c.wmu.Unlock()
	if r.c.dead {
		return net.ErrClosed
	}
	r.e.raw(")").crlf()
	// Not flushed: the tagged response (or a full buffer) flushes, so a
	// bulk FETCH costs one write per buffer, not per message.
	if r.e.err != nil {
		r.c.dead = true
	}
	return r.e.err
}
