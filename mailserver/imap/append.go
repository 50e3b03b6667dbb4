package imap

import (
	"fmt"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// AppendAll stores the messages of one APPEND (several with MULTIAPPEND)
// byte for byte, all or none: when one fails, those already stored are
// expunged again and the failure is answered. A literal over AppendLimit
// is answered by limitReader and never gets here (the check below is a
// second line of defence); the engine enforces its own MaxMessageSize and
// the quota (NO [TOOBIG], NO [OVERQUOTA]). It returns the UIDs given.
func (s *session) AppendAll(mailbox string, msgs []*appendSpool) (uidValidity uint32, uids imap.UIDSet, err error) {
	if err := s.pointInTime(); err != nil {
		return 0, nil, err
	}
	defer s.busy()()
	for _, m := range msgs {
		if m.size > int64(s.srv.opts.AppendLimit) {
			return 0, nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig,
				Text: fmt.Sprintf("Message exceeds the %d byte limit", s.srv.opts.AppendLimit)}
		}
	}
	to, err := s.destination(mailbox)
	if err != nil {
		return 0, nil, err
	}
	var stored []uint64
	for _, m := range msgs {
		body, err := m.bytes()
		if err == nil {
			m.release()
			date := m.opts.Time
			if date.IsZero() {
				date = s.srv.opts.Now()
			}
			var it engine.Item
			it, err = s.srv.b.Append(s.ctx, s.acct, to.ID, body, toEngineFlags(m.opts.Flags), date.UTC())
			if err == nil {
				stored = append(stored, it.ID)
				uids.AddNum(imap.UID(it.UID))
				continue
			}
		}
		if len(stored) > 0 {
			if _, xerr := s.srv.b.Expunge(s.ctx, s.acct, to.ID, stored); xerr != nil {
				s.srv.log.Error("imap: undo partial MULTIAPPEND", "err", xerr)
			}
		}
		return 0, nil, translate(s.srv.log, "append", err)
	}
	if s.sel != nil && s.sel.folder.ID == to.ID {
		s.bump()
	}
	return to.UIDValidity, uids, nil
}
