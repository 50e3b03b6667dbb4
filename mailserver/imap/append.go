package imap

import (
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
)

// AppendLimit makes the library advertise APPENDLIMIT=n; limitReader
// answers larger APPENDs before the library sees them.
func (s *session) AppendLimit() uint32 { return s.srv.opts.AppendLimit }

// Append stores a message byte for byte. A literal over AppendLimit is
// answered by limitReader and never gets here (the check below is a
// second line of defence); the engine enforces its own MaxMessageSize and the quota (NO [TOOBIG],
// NO [OVERQUOTA]).
func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	defer s.busy()()
	if r.Size() > int64(s.srv.opts.AppendLimit) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig,
			Text: fmt.Sprintf("Message exceeds the %d byte limit", s.srv.opts.AppendLimit)}
	}
	to, err := s.destination(mailbox)
	if err != nil {
		return nil, err
	}
	body, err := readAll(io.LimitReader(r, int64(s.srv.opts.AppendLimit)+1), make([]byte, 0, r.Size()))
	if err != nil {
		return nil, err
	}
	date := options.Time
	if date.IsZero() {
		date = s.srv.opts.Now()
	}
	it, err := s.srv.b.Append(s.ctx, s.acct, to.ID, body, toEngineFlags(options.Flags), date.UTC())
	if err != nil {
		return nil, translate(s.srv.log, "append", err)
	}
	if s.sel != nil && s.sel.folder.ID == to.ID {
		s.bump()
	}
	return &imap.AppendData{UID: imap.UID(it.UID), UIDValidity: to.UIDValidity}, nil
}
