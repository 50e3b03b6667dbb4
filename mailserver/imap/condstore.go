package imap

import (
	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// CONDSTORE and QRESYNC (RFC 7162). The engine keeps a MODSEQ per item
// (the LSN of its last change) and per folder (HIGHESTMODSEQ), and the
// UIDs that left a folder with the MODSEQ they left at (VanishedSince).
// CONDSTORE is on for a connection once a CONDSTORE enabling command ran
// (ENABLE CONDSTORE or QRESYNC, SELECT (CONDSTORE), FETCH MODSEQ or
// CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ); from then on FETCH
// responses with FLAGS carry MODSEQ and SELECT reports HIGHESTMODSEQ.
// QRESYNC, on after ENABLE QRESYNC, replaces EXPUNGE by VANISHED.

func (c *conn) condstore() bool {
	return c.enabled.Has(imap.CapCondStore) || c.enabled.Has(imap.CapQResync)
}

func (c *conn) qresync() bool { return c.enabled.Has(imap.CapQResync) }

// enableCondStore turns CONDSTORE on; the first time, with a mailbox
// selected, it reports the mailbox's HIGHESTMODSEQ (RFC 7162 section
// 3.1.2.1... "the server MUST send HIGHESTMODSEQ").
func (c *conn) enableCondStore() {
	if c.condstore() {
		return
	}
	c.enabled[imap.CapCondStore] = struct{}{}
	if c.state == stateSelected && c.sess.sel != nil {
		m := c.sess.highestModSeq()
		c.write(func(e *encoder) { e.raw("* OK [HIGHESTMODSEQ ").num64(m).raw("] Highest").crlf() })
	}
}

// highestModSeq is the selected folder's HIGHESTMODSEQ as the engine has
// it now, never below what the view has reported.
func (s *session) highestModSeq() uint64 {
	v := s.sel
	m := v.folder.HighestModSeq
	if !v.src.ReadOnly() {
		if f, err := s.srv.b.GetFolder(s.ctx, s.acct, v.folder.ID); err == nil && f.HighestModSeq > m {
			m = f.HighestModSeq
		}
	}
	for i := range v.msgs {
		m = max(m, v.msgs[i].modseq)
	}
	return m
}

// qresyncParams are SELECT's (QRESYNC (uidvalidity modseq [known-uids
// [seq-match-data]])).
type qresyncParams struct {
	uidValidity uint32
	modseq      uint64
	known       imap.UIDSet // nil: every UID
}

// writeVanishedEarlier writes VANISHED (EARLIER) for the UIDs of set that
// left the folder after modseq (UID FETCH ... (CHANGEDSINCE m VANISHED)).
func (s *session) writeVanishedEarlier(w *conn, set imap.NumSet, modseq uint64) error {
	var ranges []engine.UIDRange
	if uids, ok := set.(imap.UIDSet); ok && !imap.IsSearchRes(set) {
		for _, r := range uids {
			ranges = append(ranges, engine.UIDRange{Start: uint32(r.Start), Stop: uint32(r.Stop)})
		}
	} else if imap.IsSearchRes(set) {
		for _, r := range s.sel.searchRes {
			ranges = append(ranges, engine.UIDRange{Start: uint32(r.Start), Stop: uint32(r.Stop)})
		}
		if len(ranges) == 0 {
			return nil
		}
	}
	gone, err := s.sel.src.VanishedSince(s.ctx, s.sel.folder.ID, modseq, ranges)
	if err != nil {
		return translate(s.srv.log, "vanished", err)
	}
	var out imap.UIDSet
	for _, u := range gone {
		if s.sel.indexOfUID(u) < 0 { // still in the view: reported by EXPUNGE/VANISHED later
			out.AddNum(imap.UID(u))
		}
	}
	return w.WriteVanished(out, true)
}

// qresyncSelect sends what a client that selected with QRESYNC missed
// since its modseq (RFC 7162 section 3.2.5): VANISHED (EARLIER) for the
// known UIDs that left, then FETCH (UID FLAGS MODSEQ) for the messages
// changed since. Nothing when the UIDVALIDITY differs.
func (s *session) qresyncSelect(w *conn, p *qresyncParams) error {
	v := s.sel
	if p.uidValidity != v.folder.UIDValidity {
		return nil
	}
	var ranges []engine.UIDRange
	for _, r := range p.known {
		ranges = append(ranges, engine.UIDRange{Start: uint32(r.Start), Stop: uint32(r.Stop)})
	}
	gone, err := v.src.VanishedSince(s.ctx, v.folder.ID, p.modseq, ranges)
	if err != nil {
		return translate(s.srv.log, "select", err)
	}
	var out imap.UIDSet
	for _, u := range gone {
		if v.indexOfUID(u) < 0 {
			out.AddNum(imap.UID(u))
		}
	}
	if err := w.WriteVanished(out, true); err != nil {
		return err
	}
	items, err := v.src.ChangedSince(s.ctx, v.folder.ID, p.modseq)
	if err != nil {
		return translate(s.srv.log, "select", err)
	}
	s.applyChanged(items)
	max := v.maxUID()
	for _, it := range items {
		if p.known != nil && !uidSetContains(p.known, it.UID, max) {
			continue
		}
		i := v.indexOfUID(it.UID)
		if i < 0 || v.msgs[i].id != it.ID {
			continue
		}
		if err := w.WriteMessageFlags(uint32(i+1), &v.msgs[i]); err != nil {
			return err
		}
	}
	return nil
}
