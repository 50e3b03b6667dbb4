package imap

import (
	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// Store answers STORE and UID STORE. Unless .SILENT, every addressed
// message is reported with its flags, new keywords announced first.
// Messages another session expunged meanwhile are left out; the others
// are changed.
func (s *session) Store(w *conn, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	defer s.busy()()
	if err := s.requireWritable(); err != nil {
		return err
	}
	targets := s.resolve(numSet)
	if len(targets) == 0 {
		return nil
	}
	var op engine.FlagOp
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = engine.FlagsAdd
	case imap.StoreFlagsDel:
		op = engine.FlagsRemove
	default:
		op = engine.FlagsSet
	}
	var unchangedSince uint64
	if options != nil {
		unchangedSince = options.UnchangedSince
	}
	ef := toEngineFlags(flags.Flags)
	for i, f := range ef {
		ef[i] = s.sel.flags.spelling(f)
	}
	var changed []engine.Item
	targets, err := s.onLive(targets, func(ids []uint64) error {
		var err error
		changed, err = s.srv.b.StoreFlags(s.ctx, s.acct, s.sel.folder.ID, ids, op, ef, unchangedSince)
		return err
	})
	if err != nil {
		return translate(s.srv.log, "store", err)
	}
	s.applyChanged(changed)
	if flags.Silent {
		return nil
	}
	var all []string
	for _, t := range targets {
		all = append(all, t.m.flags...)
	}
	if err := s.announce(all); err != nil {
		return err
	}
	for _, t := range targets {
		rw := w.CreateMessage(t.seq)
		rw.WriteUID(imap.UID(t.m.uid))
		rw.WriteFlags(wireFlags(t.m))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}
