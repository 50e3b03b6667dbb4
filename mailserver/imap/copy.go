package imap

import (
	"context"
	"errors"
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// destination resolves the target of COPY, MOVE and APPEND; a missing
// folder is NO [TRYCREATE] so clients know to CREATE it.
func (s *session) destination(name string) (engine.Folder, error) {
	f, err := s.srv.b.FolderByPath(s.ctx, s.acct, mailboxPath(name))
	if errors.Is(err, engine.ErrNotFound) {
		return engine.Folder{}, errTryCreate
	} else if err != nil {
		return engine.Folder{}, translate(s.srv.log, "destination", err)
	}
	return f, nil
}

func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	defer s.busy()()
	to, err := s.destination(dest)
	if err != nil {
		return nil, err
	}
	targets := s.resolve(numSet)
	if len(targets) == 0 {
		return nil, nil
	}
	var items []engine.Item
	targets, err = s.onLive(targets, func(at []engine.ItemAt) error {
		var err error
		items, err = s.sel.changer().CopyAt(s.ctx, s.sel.folder.ID, at, to)
		return err
	})
	if err != nil {
		return nil, translate(s.srv.log, "copy", err)
	}
	if len(targets) == 0 {
		return nil, expungeIssued(numSet)
	}
	if to.ID == s.sel.folder.ID {
		s.bump()
	}
	return copyData(to, targets, items), nil
}

// expungeIssued answers a COPY or MOVE whose messages were all expunged
// by another session: NO [EXPUNGEISSUED] for sequence numbers, which named
// messages the client still believes in; for UIDs nothing, since a UID that
// no longer exists is ignored without an error (RFC 9051 section 6.4.9;
// Dovecot answers OK).
func expungeIssued(numSet imap.NumSet) error {
	if _, ok := numSet.(imap.UIDSet); ok {
		return nil
	}
	return errExpungeIssued
}

func copyData(to engine.Folder, targets []target, items []engine.Item) *imap.CopyData {
	d := &imap.CopyData{UIDValidity: to.UIDValidity}
	for i, it := range items {
		if i >= len(targets) {
			break
		}
		d.SourceUIDs.AddNum(imap.UID(targets[i].m.uid))
		d.DestUIDs.AddNum(imap.UID(it.UID))
	}
	return d
}

// Move answers MOVE and UID MOVE: COPYUID, then EXPUNGE for each moved
// message, highest sequence number first so the numbers stay valid.
func (s *session) Move(w *conn, numSet imap.NumSet, dest string) error {
	defer s.busy()()
	if err := s.requireWritable(); err != nil {
		return err
	}
	to, err := s.destination(dest)
	if err != nil {
		return err
	}
	targets := s.resolve(numSet)
	if len(targets) == 0 {
		return nil
	}
	var items []engine.Item
	targets, err = s.onLive(targets, func(at []engine.ItemAt) error {
		var err error
		items, err = s.sel.changer().MoveAt(s.ctx, s.sel.folder.ID, at, to)
		return err
	})
	if err != nil {
		return translate(s.srv.log, "move", err)
	}
	if len(targets) == 0 {
		return expungeIssued(numSet)
	}
	if to.ID == s.sel.folder.ID {
		s.bump() // the moved messages come back as new ones (RFC 6851)
	}
	if err := w.WriteCopyData(copyData(to, targets, items)); err != nil {
		return err
	}
	uids := make([]uint32, len(targets))
	for i, t := range targets {
		uids[i] = t.m.uid
	}
	return s.expungeFromView(uids, w)
}

// expungeFromView removes uids from the view and tells the client (w nil:
// silently, for CLOSE).
func (s *session) expungeFromView(uids []uint32, w *conn) error {
	var idx []int
	for _, uid := range uids {
		if i := s.sel.indexOfUID(uid); i >= 0 {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	if w == nil {
		for j := len(idx) - 1; j >= 0; j-- {
			s.sel.remove(idx[j])
		}
		return nil
	}
	return s.writeExpunged(w, idx)
}

// writeExpunged removes the messages at the view indexes idx (ascending)
// and reports them: one EXPUNGE each, highest sequence number first so
// the numbers stay valid, or, once QRESYNC is enabled, one VANISHED with
// their UIDs (RFC 7162 section 3.2.10).
func (s *session) writeExpunged(w *conn, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	v := s.sel
	if w.qresync() {
		var uids imap.UIDSet
		for j := len(idx) - 1; j >= 0; j-- {
			uids.AddNum(imap.UID(v.msgs[idx[j]].uid))
			v.remove(idx[j])
		}
		return w.WriteVanished(uids, false)
	}
	for j := len(idx) - 1; j >= 0; j-- {
		if err := w.WriteExpunge(uint32(idx[j] + 1)); err != nil {
			return err
		}
		v.remove(idx[j])
	}
	return nil
}

// Expunge answers EXPUNGE, UID EXPUNGE and CLOSE. It removes what the
// engine has flagged \Deleted now (not what this session last saw), and
// is a no-op on an EXAMINEd folder, as CLOSE requires.
func (s *session) Expunge(w *conn, uids *imap.UIDSet) error {
	defer s.busy()()
	if s.sel.readOnly {
		return nil
	}
	items, err := s.deletedNow()
	if err != nil {
		return translate(s.srv.log, "expunge", err)
	}
	var at []engine.ItemAt
	for i := range items {
		if uids != nil && !uidSetContains(*uids, items[i].uid, s.sel.maxUID()) {
			continue
		}
		at = append(at, items[i].at())
	}
	if len(at) == 0 {
		return nil
	}
	removed, err := s.expungeAt(at)
	if err != nil {
		return translate(s.srv.log, "expunge", err)
	}
	gone := make([]uint32, len(removed))
	for i, it := range removed {
		gone[i] = it.UID
	}
	if err := s.expungeFromView(gone, w); err != nil {
		return err
	}
	if w != nil && w.condstore() {
		w.okCode, w.okArgs = "HIGHESTMODSEQ", itoa(s.highestModSeq())
	}
	return nil
}

// expungeAt expunges the items still at the UIDs named; one expunged or
// moved by another session meanwhile is left out (its EXPUNGE comes with
// the next sync). One whose \Deleted another session took off meanwhile
// stays too, where the source can check that in the same write
// (deletedExpunger).
func (s *session) expungeAt(at []engine.ItemAt) ([]engine.Item, error) {
	targets := make([]target, len(at))
	msgs := make([]message, len(at))
	for i, a := range at {
		msgs[i] = message{id: a.ID, uid: a.UID}
		targets[i] = target{m: &msgs[i]}
	}
	var removed []engine.Item
	_, err := s.onLive(targets, func(at []engine.ItemAt) error {
		var err error
		if de, ok := s.sel.src.(deletedExpunger); ok {
			removed, err = de.ExpungeDeletedAt(s.ctx, s.sel.folder.ID, at)
			return err
		}
		removed, err = s.sel.changer().ExpungeAt(s.ctx, s.sel.folder.ID, at)
		return err
	})
	return removed, err
}

// deletedExpunger is an optional part of a Source (the live account:
// engine.ExpungeDeletedAt): expunge those of the items still flagged
// \Deleted, checked in the same write.
type deletedExpunger interface {
	ExpungeDeletedAt(ctx context.Context, folder uint64, items []engine.ItemAt) ([]engine.Item, error)
}

// deletedNow returns the messages of the session's view that have
// \Deleted as the engine has them now, in UID order; messages the view
// has not yet announced are left alone. From a changesSource it is
// the view corrected by what changed since the view's MODSEQ, without
// reading the folder; otherwise the folder is listed.
func (s *session) deletedNow() ([]message, error) {
	v := s.sel
	if cs, ok := v.src.(changesSource); ok {
		ch, err := cs.ChangesSince(s.ctx, v.folder.ID, v.modseq)
		if err != nil {
			return nil, err
		}
		if ch.Complete {
			changed := make(map[uint32]engine.Item, len(ch.Changed))
			for _, it := range ch.Changed {
				changed[it.UID] = it
			}
			var out []message
			for _, u := range ch.Vanished {
				if i := v.indexOfUID(u); i >= 0 {
					// Gone already: not ours to expunge. Mark it so the
					// loop below skips it.
					changed[u] = engine.Item{}
				}
			}
			for i := range v.msgs {
				m := &v.msgs[i]
				flags := m.flags
				if it, ok := changed[m.uid]; ok {
					if it.ID != m.id {
						continue
					}
					flags = it.Flags
					delete(changed, m.uid)
				}
				if containsFold(flags, string(imap.FlagDeleted)) {
					out = append(out, message{id: m.id, uid: m.uid})
				}
			}
			// Messages that arrived after the view was synced are not
			// the client's to expunge: it has not seen them, nor their
			// \Deleted (Dovecot expunges from the session's view too).
			slices.SortFunc(out, func(a, b message) int { return int(int64(a.uid) - int64(b.uid)) })
			return out, nil
		}
	}
	items, err := v.src.Items(s.ctx, v.folder.ID)
	if err != nil {
		return nil, err
	}
	maxUID := v.maxUID()
	var out []message
	for _, it := range items {
		if it.UID <= maxUID && containsFold(it.Flags, string(imap.FlagDeleted)) {
			out = append(out, message{id: it.ID, uid: it.UID})
		}
	}
	return out, nil
}
