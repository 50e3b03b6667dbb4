package imap

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// needsBlob reports whether answering options reads the message bytes.
func needsBlob(options *imap.FetchOptions) bool {
	return options.Envelope || options.BodyStructure != nil ||
		len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
}

// headerOnly reports whether the header alone answers options (ENVELOPE,
// BODY[HEADER], BODY[HEADER.FIELDS ...]), so the header cache serves it.
func headerOnly(options *imap.FetchOptions) bool {
	if options.BodyStructure != nil || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0 {
		return false
	}
	for _, bs := range options.BodySection {
		if len(bs.Part) > 0 || bs.Specifier != imap.PartSpecifierHeader {
			return false
		}
	}
	return true
}

// Fetch answers FETCH and UID FETCH. A non-PEEK body section sets \Seen
// first (unless the folder was EXAMINEd) and reports the new flags.
func (s *session) Fetch(w *conn, numSet imap.NumSet, req *fetchRequest) error {
	defer s.busy()()
	options := &req.opts
	targets := s.resolve(numSet)
	if req.changedSince {
		// CHANGEDSINCE (RFC 7162 section 3.1.4): only messages whose
		// MODSEQ is above it, as the engine has them now; the view takes
		// their current flags so a later sync does not repeat them.
		if req.vanished {
			if err := s.writeVanishedEarlier(w, numSet, options.ChangedSince); err != nil {
				return err
			}
		}
		items, err := s.sel.src.ChangedSince(s.ctx, s.sel.folder.ID, options.ChangedSince)
		if err != nil {
			return translate(s.srv.log, "fetch", err)
		}
		s.applyChanged(items)
		changed := make(map[engine.ItemAt]bool, len(items))
		for _, it := range items {
			changed[itemAt(it)] = true
		}
		kept := targets[:0]
		for _, t := range targets {
			if changed[t.m.at()] && t.m.modseq > options.ChangedSince {
				kept = append(kept, t)
			}
		}
		targets = kept
	}
	if len(targets) == 0 {
		return nil
	}
	flagsOut := options.Flags
	if !s.sel.readOnly && setsSeen(options) {
		if err := s.markSeen(targets); err != nil {
			return err
		}
		flagsOut = true
	}
	if flagsOut {
		var all []string
		for _, t := range targets {
			all = append(all, t.m.flags...)
		}
		if err := s.announce(all); err != nil {
			return err
		}
	}
	need, hdrOnly := needsBlob(options), headerOnly(options)
	digests, _ := s.sel.src.(digestReader)
	defer s.releaseFetchBuf()
	// Headers and bodies are read by digest (bodies by item id where the
	// source cannot), neither of which says whether the message is still
	// at its UID (an item keeps its id when another session moves it,
	// even into this folder under a new UID): leave out what another
	// session expunged or moved since the view was synced (its EXPUNGE
	// follows later), as Dovecot does.
	var gone map[uint32]bool
	if need {
		var err error
		if gone, err = s.staleUIDs(); err != nil {
			return translate(s.srv.log, "fetch", err)
		}
	}
	for _, t := range targets {
		var raw []byte
		if gone[t.m.uid] {
			continue
		}
		if need {
			read := s.readBlob
			if hdrOnly {
				read = func(uint64) ([]byte, error) { return s.header(t.m) }
			} else if digests != nil {
				read = func(uint64) ([]byte, error) { return s.readBlobDigest(digests, t.m.digest) }
			}
			b, err := read(t.m.id)
			if errors.Is(err, engine.ErrNotFound) {
				continue // expunged by another session; EXPUNGE follows later
			} else if err != nil {
				return err
			}
			raw = b
		}
		if err := s.writeFetch(w, t, options, flagsOut, raw); err != nil {
			return err
		}
	}
	return nil
}

func setsSeen(options *imap.FetchOptions) bool {
	for _, bs := range options.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range options.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

func (s *session) markSeen(targets []target) error {
	var unseen []target
	for _, t := range targets {
		if !hasFlag(t.m.flags, imap.FlagSeen) {
			unseen = append(unseen, t)
		}
	}
	if len(unseen) == 0 {
		return nil
	}
	res, err := s.sel.changer().StoreFlagsAt(s.ctx, s.sel.folder.ID, targetsAt(unseen), engine.FlagsAdd, []string{string(imap.FlagSeen)}, engine.StoreOptions{})
	if err != nil {
		return translate(s.srv.log, "fetch", err)
	}
	s.applyChanged(res.Changed)
	return nil
}

// applyChanged records the session's own flag changes in its view, so the
// next sync does not report them back as someone else's.
func (s *session) applyChanged(changed []engine.Item) {
	for _, it := range changed {
		if i := s.sel.indexOfUID(it.UID); i >= 0 && s.sel.msgs[i].id == it.ID {
			nm := newMessage(it)
			s.sel.msgs[i].flags = nm.flags
			s.sel.msgs[i].modseq = nm.modseq
		}
	}
}

func (s *session) readBlob(id uint64) ([]byte, error) {
	rc, size, err := s.sel.src.OpenBlob(s.ctx, id)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return nil, err
		}
		return nil, translate(s.srv.log, "fetch", err)
	}
	defer rc.Close()
	if whole, ok := rc.(interface{ Bytes() []byte }); ok {
		// The engine's reader holds the message already: no second copy
		// (a bulk FETCH would otherwise allocate every message twice).
		return whole.Bytes(), nil
	}
	buf := make([]byte, 0, size)
	b, err := readAll(rc, buf)
	if err != nil {
		return nil, translate(s.srv.log, "fetch", err)
	}
	return b, nil
}

// fetchBufKeep is the largest fetch buffer kept for the next FETCH; a
// larger one (grown by a large message) is dropped when its FETCH ends.
const fetchBufKeep = 256 << 10

// fetchBufs holds the fetch buffers of sessions between FETCHes, so a
// session that is not fetching holds none.
var fetchBufs sync.Pool

// digestReader is an optional part of a Source: a message's bytes by
// the digest the view holds, read into a caller's buffer, without looking
// the item up first (the live account: engine.ReadBlobOf), so a FETCH of
// many bodies reads them all through one buffer instead of allocating
// each message.
type digestReader interface {
	ReadBlobOf(ctx context.Context, d [32]byte, buf []byte) (raw, next []byte, err error)
}

// readBlobDigest reads a message into the session's fetch buffer, taken
// from fetchBufs if the session holds none, and keeps the buffer it grew.
// The bytes are valid until the next read; writeFetch has sent them (or
// buffered a copy) before that.
func (s *session) readBlobDigest(a digestReader, d [32]byte) ([]byte, error) {
	if s.fetchBuf == nil {
		if p, ok := fetchBufs.Get().(*[]byte); ok {
			s.fetchBuf = *p
		}
	}
	b, next, err := a.ReadBlobOf(s.ctx, d, s.fetchBuf)
	s.fetchBuf = next
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return nil, err
		}
		return nil, translate(s.srv.log, "fetch", err)
	}
	return b, nil
}

// releaseFetchBuf gives the fetch buffer back at the end of a FETCH,
// or drops it if it grew past fetchBufKeep.
func (s *session) releaseFetchBuf() {
	if s.fetchBuf != nil && cap(s.fetchBuf) <= fetchBufKeep {
		b := s.fetchBuf[:0]
		fetchBufs.Put(&b)
	}
	s.fetchBuf = nil
}

func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (s *session) writeFetch(w *conn, t target, options *imap.FetchOptions, flags bool, raw []byte) error {
	m := &parsed{raw: raw}
	// BINARY can fail (unknown transfer encoding): decode before the
	// response starts.
	bins := make([][]byte, len(options.BinarySection))
	for i, bs := range options.BinarySection {
		b, err := binarySection(m, bs.Part, bs.Partial)
		if err != nil {
			return err
		}
		bins[i] = b
	}
	binSizes := make([]uint32, len(options.BinarySectionSize))
	for i, bs := range options.BinarySectionSize {
		b, err := binarySection(m, bs.Part, nil)
		if err != nil {
			return err
		}
		binSizes[i] = uint32(len(b))
	}
	rw := w.CreateMessage(t.seq)
	if options.UID {
		// Asked for, or a UID FETCH (RFC 9051 section 6.4.9). Left out
		// otherwise, as Dovecot does: a full flag refetch of a large
		// folder is then a third smaller.
		rw.WriteUID(imap.UID(t.m.uid))
	}
	if flags {
		rw.WriteFlags(wireFlags(t.m))
	}
	if options.ModSeq || (flags && w.condstore()) {
		rw.WriteModSeq(t.m.modseq)
	}
	if options.InternalDate {
		rw.WriteInternalDate(t.m.date)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(t.m.size)
	}
	if options.Envelope {
		rw.WriteEnvelope(envelope(raw))
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(bodyStructure(m), options.BodyStructure.Extended)
	}
	for _, bs := range options.BodySection {
		rw.WriteBodySection(bs, bodySection(m, bs))
	}
	for i, bs := range options.BinarySection {
		rw.WriteBinarySection(bs, bins[i])
	}
	for i, bs := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(bs, binSizes[i])
	}
	return rw.Close()
}
