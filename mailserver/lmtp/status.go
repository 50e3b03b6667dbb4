package lmtp

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// Replies the session gives. Texts are fixed: they never carry an internal
// error, which is logged instead.
var (
	replyUnknownUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such user here"}
	replyBadRecipient = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Bad recipient address syntax"}
	replyBadSender = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7},
		Message: "Bad sender address syntax"}
	replyClosed = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1},
		Message: "Mailbox disabled, not accepting messages"}
	replyMaintenance = &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1},
		Message: "Mailbox in maintenance, try again later"}
	replyOverQuota = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2},
		Message: "Mailbox full"}
	replyTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message too big"}
	replyLineTooLong = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Message has a line too long"}
	replyTrouble = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure, try again later"}
)

// storedReply is a recipient's final reply once its message is durable:
// it says where the message is, not that it was queued.
func storedReply(it engine.Item) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0},
		Message: fmt.Sprintf("Ok: stored as item %d, uid %d", it.ID, it.UID)}
}

// replyText renders a reply as sent, for the log.
func replyText(r *smtp.SMTPError) string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
}

// statusReply maps an account status to the reply a recipient with that
// status gets, nil when mail is accepted. Locked accounts receive, as in
// Zimbra; an unknown status is internal trouble, so the MTA keeps the mail.
func statusReply(s event.AccountStatus) *smtp.SMTPError {
	switch s {
	case event.StatusActive, event.StatusLocked:
		return nil
	case event.StatusMaintenance:
		return replyMaintenance
	case event.StatusClosed:
		return replyClosed
	}
	return replyTrouble
}

// errorReply translates an engine error into the reply for one recipient.
// Anything it does not know is internal trouble (451 4.3.0): a temporary
// failure keeps the mail in the MTA's queue, while a permanent reply would
// bounce it, so only errors that are certainly the message's or the
// recipient's fault get a 5xx.
func errorReply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	var st *engine.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.As(err, &st):
		if r := statusReply(st.Status); r != nil {
			return r
		}
		return replyTrouble
	case errors.Is(err, engine.ErrNotFound):
		return replyUnknownUser
	case errors.Is(err, engine.ErrQuotaExceeded):
		return replyOverQuota
	case errors.Is(err, engine.ErrTooLarge):
		return replyTooLarge
	}
	return replyTrouble
}
