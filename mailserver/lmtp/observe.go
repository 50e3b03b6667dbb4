package lmtp

import (
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-smtp"
)

// Observer hears every reply that settles a sender, a recipient or a
// recipient's delivery, for metrics. stage is "mail" (MAIL FROM), "rcpt"
// (RCPT TO) or "data" (the per-recipient reply after the message); code
// and enhanced are the reply's codes (250 and "2.0.0" for a delivered
// recipient). Calls come from many connections at once and must return at
// once.
type Observer interface {
	Reply(stage string, code int, enhanced string)
}

// observedSession reports a session's replies to an Observer. It wraps the
// session rather than living in it so that what a client is told is
// decided in one place and only counted here.
type observedSession struct {
	inner smtp.LMTPSession
	obs   Observer
	rcpts []string // accepted RCPT TO arguments of this transaction
}

var _ smtp.LMTPSession = (*observedSession)(nil)

// replyCodes returns the codes a client sees for err: okCode and okEnh
// for nil, the SMTPError's codes, or go-smtp's 554 5.0.0 for anything
// else.
func replyCodes(err error, okCode int, okEnh string) (int, string) {
	if err == nil {
		return okCode, okEnh
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e := se.EnhancedCode
		if e == smtp.NoEnhancedCode || e == smtp.EnhancedCodeNotSet {
			return se.Code, ""
		}
		return se.Code, fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
	}
	return 554, "5.0.0"
}

func (o *observedSession) Reset() {
	o.rcpts = o.rcpts[:0]
	o.inner.Reset()
}

func (o *observedSession) Logout() error { return o.inner.Logout() }

func (o *observedSession) Mail(from string, opts *smtp.MailOptions) error {
	o.rcpts = o.rcpts[:0]
	err := o.inner.Mail(from, opts)
	code, enh := replyCodes(err, 250, "2.0.0")
	o.obs.Reply("mail", code, enh)
	return err
}

func (o *observedSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	err := o.inner.Rcpt(to, opts)
	if err == nil {
		o.rcpts = append(o.rcpts, to)
	}
	code, enh := replyCodes(err, 250, "2.0.0")
	o.obs.Reply("rcpt", code, enh)
	return err
}

func (o *observedSession) Data(r io.Reader) error { return o.inner.Data(r) }

// LMTPData counts each recipient's reply: those the session set, and for
// the others the error go-smtp gives them all when LMTPData fails.
func (o *observedSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	sc := &observedStatus{inner: status, obs: o.obs, set: make(map[string]bool, len(o.rcpts))}
	err := o.inner.LMTPData(r, sc)
	for _, to := range o.rcpts {
		if !sc.set[to] {
			code, enh := replyCodes(err, 250, "2.0.0")
			o.obs.Reply("data", code, enh)
		}
	}
	return err
}

// observedStatus passes per-recipient replies on and counts them.
type observedStatus struct {
	inner smtp.StatusCollector
	obs   Observer
	set   map[string]bool
}

func (s *observedStatus) SetStatus(rcptTo string, err error) {
	s.set[rcptTo] = true
	code, enh := replyCodes(err, 250, "2.0.0")
	s.obs.Reply("data", code, enh)
	s.inner.SetStatus(rcptTo, err)
}
