package imap

import (
	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// storeRequest is a parsed STORE.
type storeRequest struct {
	flags *imap.StoreFlags
	// cond: UNCHANGEDSINCE was given (RFC 7162 section 3.1.3); 0 is a
	// valid value that fails for every message.
	cond           bool
	unchangedSince uint64
	uid            bool
}

// Store answers STORE and UID STORE. Unless .SILENT, every changed or
// already matching message is reported with its flags (and MODSEQ once
// CONDSTORE is on), new keywords announced first; with .SILENT and
// CONDSTORE the changed ones are still reported with their MODSEQ (RFC
// 7162 section 3.1.3). Messages another session expunged meanwhile are
// left out and the others changed. Messages that fail UNCHANGEDSINCE, and
// under UNCHANGEDSINCE those expunged meanwhile, are left alone and named
// in the tagged OK [MODIFIED set].
func (s *session) Store(w *conn, numSet imap.NumSet, req *storeRequest) error {
	defer s.busy()()
	if err := s.requireWritable(); err != nil {
		return err
	}
	targets := s.resolve(numSet)
	if len(targets) == 0 {
		return nil
	}
	var op engine.FlagOp
	switch req.flags.Op {
	case imap.StoreFlagsAdd:
		op = engine.FlagsAdd
	case imap.StoreFlagsDel:
		op = engine.FlagsRemove
	default:
		op = engine.FlagsSet
	}
	ef := toEngineFlags(req.flags.Flags)
	for i, f := range ef {
		ef[i] = s.sel.flags.spelling(f)
	}
	res, err := s.sel.changer().StoreFlagsAt(s.ctx, s.sel.folder.ID, targetsAt(targets), op, ef,
		engine.StoreOptions{Conditional: req.cond, UnchangedSince: req.unchangedSince})
	if err != nil {
		return translate(s.srv.log, "store", err)
	}
	s.applyChanged(res.Changed)
	// Messages are told apart by id and UID: another session may have
	// moved one under a new UID (RFC 6851), and its old UID is then an
	// expunged message here, which the engine reports Missing.
	changed := make(map[engine.ItemAt]bool, len(res.Changed))
	for _, it := range res.Changed {
		changed[itemAt(it)] = true
	}
	done := make(map[engine.ItemAt]bool, len(res.Changed)+len(res.Unchanged))
	for _, it := range res.Changed {
		done[itemAt(it)] = true
	}
	for _, it := range res.Unchanged {
		done[itemAt(it)] = true
	}
	// Under UNCHANGEDSINCE a message another session expunged meanwhile
	// fails the test too: the client is told it was not changed (RFC 7162
	// section 3.1.3, example 11; Dovecot does the same).
	if len(res.Modified) > 0 || req.cond && len(res.Missing) > 0 {
		modified := make(map[engine.ItemAt]bool, len(res.Modified))
		for _, it := range res.Modified {
			modified[itemAt(it)] = true
		}
		var set imap.SeqSet
		for _, t := range targets {
			at := t.m.at()
			// Missing: neither done nor modified.
			if modified[at] || req.cond && !done[at] {
				if req.uid {
					set.AddNum(t.m.uid)
				} else {
					set.AddNum(t.seq)
				}
			}
		}
		w.okCode, w.okArgs = "MODIFIED", set.String()
	}
	condstore := w.condstore()
	if req.flags.Silent && !condstore {
		return nil
	}
	var all []string
	for _, t := range targets {
		if done[t.m.at()] {
			all = append(all, t.m.flags...)
		}
	}
	if !req.flags.Silent {
		if err := s.announce(all); err != nil {
			return err
		}
	}
	for _, t := range targets {
		if at := t.m.at(); !done[at] || (req.flags.Silent && !changed[at]) {
			continue
		}
		rw := w.CreateMessage(t.seq)
		rw.WriteUID(imap.UID(t.m.uid))
		if !req.flags.Silent {
			rw.WriteFlags(wireFlags(t.m))
		}
		if condstore {
			rw.WriteModSeq(t.m.modseq)
		}
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}
