package imap

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// Errors the adapter answers with itself (not translated engine errors).
var (
	errNoSuchMailbox = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	errTryCreate     = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	errAuthFailed    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Authentication failed"}
	errTooManyConns  = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Too many connections for this account"}
	errReadOnlyBox   = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only (EXAMINE)"}
	errServerBug     = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal server error"}
)

// translate turns an engine error into an *imap.Error with a response
// code. Internal error text never reaches the client: anything the
// adapter does not recognise is logged and answered NO [SERVERBUG].
func translate(log *slog.Logger, op string, err error) error {
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie
	}
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	var se *engine.StatusError
	switch {
	case errors.As(err, &se):
		if se.Status == event.StatusMaintenance {
			return no(imap.ResponseCodeUnavailable, "Account is under maintenance, try again later")
		}
		return errAuthFailed
	case errors.Is(err, engine.ErrAuthFailed):
		return errAuthFailed
	case errors.Is(err, engine.ErrNotFound):
		return errNoSuchMailbox
	case errors.Is(err, engine.ErrExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, engine.ErrQuotaExceeded):
		return no(imap.ResponseCodeOverQuota, "Quota exceeded")
	case errors.Is(err, engine.ErrTooLarge):
		return no(imap.ResponseCodeTooBig, "Message too large")
	case errors.Is(err, engine.ErrLimit):
		text := "Limit reached"
		if _, t, ok := strings.Cut(err.Error(), engine.ErrLimit.Error()+": "); ok {
			text = strings.ToUpper(t[:1]) + t[1:]
		}
		return no(imap.ResponseCodeLimit, text)
	case errors.Is(err, engine.ErrFolderNotEmpty):
		return no(imap.ResponseCodeHasChildren, "Mailbox has children")
	case errors.Is(err, engine.ErrInvalid):
		return no(imap.ResponseCodeCannot, "Operation not permitted")
	case errors.Is(err, engine.ErrReadOnly), errors.Is(err, engine.ErrClosed):
		log.Error("imap: storage unavailable", "op", op, "err", err)
		return no(imap.ResponseCodeUnavailable, "Storage temporarily unavailable, try again later")
	}
	log.Error("imap: backend error", "op", op, "err", err)
	return errServerBug
}
