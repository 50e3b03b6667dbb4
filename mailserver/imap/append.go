package imap

import (
	"io"

	"github.com/emersion/go-imap/v2"
)

// Append stores a message. The library has already refused literals over
// AppendLimit; the engine enforces its own MaxMessageSize and quota
// (NO [TOOBIG], NO [OVERQUOTA]). The message is stored byte for byte.
func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	s.touch()
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
