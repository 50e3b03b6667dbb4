package imap

import (
	"errors"
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
	body, err := readLiteral(r)
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

// readLiteral reads an APPEND literal whole. A stream that ends before the
// announced size (a client that disconnects, a dropped connection) is an
// error, so nothing incomplete is ever handed to the engine; an empty
// literal ({0}) is a valid, empty message.
func readLiteral(r imap.LiteralReader) ([]byte, error) {
	body := make([]byte, r.Size())
	if n, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("append: literal ended after %d of %d bytes: %w", n, r.Size(), io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return body, nil
}
