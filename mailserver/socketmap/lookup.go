package socketmap

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// Map names a request may carry (see doc.go).
const (
	MapDomain  = "domain"
	MapMailbox = "mailbox"
)

// Replies with a fixed text. A TEMP reason never carries an internal
// error, which is logged instead: Postfix may show the reason to senders.
const (
	replyNotFound    = "NOTFOUND "
	replyTrouble     = "TEMP lookup trouble, try again later"
	replyMaintenance = "TEMP mailbox in maintenance, try again later"
)

// answer returns the reply payload for one request payload.
func (s *Server) answer(req []byte) string {
	if !utf8.Valid(req) {
		return replyNotFound
	}
	name, key, ok := strings.Cut(string(req), " ")
	if !ok || key == "" {
		return "PERM request must be \"<map name> <key>\""
	}
	if strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return replyNotFound
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.LookupTimeout)
	defer cancel()
	switch name {
	case MapDomain:
		return s.domain(ctx, key)
	case MapMailbox:
		return s.mailbox(ctx, key)
	}
	return "PERM unknown map " + printable(name) + " (tidemark answers \"" + MapDomain + "\" and \"" + MapMailbox + "\")"
}

func (s *Server) domain(ctx context.Context, key string) string {
	d, err := s.b.GetDomain(ctx, key)
	switch {
	case err == nil:
		return "OK " + d.Name
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrInvalid):
		return replyNotFound
	}
	s.opts.Logger.Error("socketmap: domain lookup", "domain", key, "err", err)
	return replyTrouble
}

func (s *Server) mailbox(ctx context.Context, key string) string {
	// Postfix also asks for "@domain" (catch-all) and, for some
	// domains, the bare local part; tidemark has neither.
	if at := strings.LastIndexByte(key, '@'); at <= 0 || at == len(key)-1 {
		return replyNotFound
	}
	acct, err := s.b.LookupAccount(ctx, key)
	switch {
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrInvalid):
		return replyNotFound
	case err != nil:
		s.opts.Logger.Error("socketmap: mailbox lookup", "address", key, "err", err)
		return replyTrouble
	}
	switch acct.Status {
	case event.StatusActive, event.StatusLocked:
		return "OK " + acct.Address
	case event.StatusMaintenance:
		return replyMaintenance
	case event.StatusClosed:
		return replyNotFound
	}
	s.opts.Logger.Error("socketmap: mailbox lookup: unknown account status", "address", key, "status", acct.Status)
	return replyTrouble
}

// printable quotes s for a reply, cut short.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
