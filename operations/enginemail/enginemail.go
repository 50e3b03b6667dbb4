// Package enginemail delivers the operations' notification mail through the
// engine, like any other delivery: each message is one redo record (backed
// up like the rest) in the INBOX of each administrator's local account.
// operations does not import the engine; the composition root hands it a
// Mailer from here.
package enginemail

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/operations"
)

// Engine is the part of the engine a Mailer uses. *engine.Engine satisfies
// it.
type Engine interface {
	LookupAccount(ctx context.Context, address string) (engine.Account, error)
	Deliver(ctx context.Context, d engine.Delivery) ([]engine.RecipientResult, error)
}

var _ Engine = (*engine.Engine)(nil)

// Mailer delivers to local accounts through the engine.
type Mailer struct{ eng Engine }

var _ operations.Mailer = (*Mailer)(nil)

// New returns a Mailer over eng.
func New(eng Engine) *Mailer { return &Mailer{eng: eng} }

// DeliverMail stores msg once in the INBOX of every address in to that is
// a local account (or alias). The message gets a null Return-Path, as
// automatic mail should, so nothing ever answers it. Addresses that are not
// local, or whose account refuses it (closed, in maintenance, over quota),
// are named in the error; the others still get it.
func (m *Mailer) DeliverMail(ctx context.Context, to []string, msg []byte) error {
	var ids []uint64
	var addrs []string
	var errs []error
	for _, a := range to {
		acct, err := m.eng.LookupAccount(ctx, strings.ToLower(strings.TrimSpace(a)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		ids = append(ids, acct.ID)
		addrs = append(addrs, a)
	}
	if len(ids) > 0 {
		body := append([]byte("Return-Path: <>\r\n"), msg...)
		res, err := m.eng.Deliver(ctx, engine.Delivery{Recipients: ids, Body: body})
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("deliver to %s: %w", strings.Join(addrs, ", "), err))...)
		}
		for i, r := range res {
			if r.Err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", addrs[i], r.Err))
			}
		}
	}
	return errors.Join(errs...)
}
