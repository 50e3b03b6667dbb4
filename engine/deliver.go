package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
)

// Delivery is one message for one or more local accounts, each into its
// INBOX.
type Delivery struct {
	Recipients   []uint64 // account ids
	Body         []byte
	Flags        []string
	InternalDate time.Time // zero: now
}

// RecipientResult is the outcome for one recipient. Err is nil when the
// message was stored (Item says where), or ErrNotFound, ErrQuotaExceeded,
// a *StatusError, ...
type RecipientResult struct {
	Account uint64
	Item    Item
	Err     error
}

// blobPlan is how a message's blob reaches the volume.
type blobPlan struct {
	d      dedup.Digest
	size   int64
	inline bool
	wrote  bool   // blob-first: this caller wrote it
	gcGen  uint64 // collection generation before the check or write
	vol    string // blob-first: the primary it was written to
}

// prepareBlob checks the size and, for blob-first, writes the blob durably
// before the record is queued.
func (e *Engine) prepareBlob(ctx context.Context, body []byte, force bool) (blobPlan, error) {
	if int64(len(body)) > e.opts.MaxMessageSize {
		return blobPlan{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(body), e.opts.MaxMessageSize)
	}
	p := blobPlan{d: dedup.Sum(body), size: int64(len(body)), gcGen: e.gcGen.Load()}
	// An empty blob cannot ride inline: the event could not tell it from
	// a blob-first one.
	p.inline = e.opts.InlineBlobMax >= 0 && len(body) <= e.opts.InlineBlobMax && len(body) > 0
	if !p.inline {
		// The primary is taken once: a switch meanwhile (primaryswitch.go)
		// leaves this blob on the volume it is written to, which its record
		// names.
		prim := e.prim()
		p.vol = prim.name
		wrote, err := e.storeBlobFirst(ctx, prim, p.d, body, force)
		if err != nil {
			return p, err
		}
		p.wrote = wrote
	}
	return p, nil
}

// checkBlob runs in the writer. A blob record means the blob is on its
// volume (collection removes both together, on this goroutine). Without
// one, the blob is there only if this caller wrote it and no collection
// pass deleted anything since.
func (p blobPlan) checkBlob(tx *txn) error {
	if p.inline {
		return nil
	}
	ok, err := getVal(tx.b, blobKey(p.d), &blobRec{})
	if err != nil || ok {
		return err
	}
	if !p.wrote || tx.e.gcGen.Load() != p.gcGen {
		return errBlobGone
	}
	if p.vol != tx.primary().name && p.vol != tx.e.opts.PrimaryName {
		// Written to a primary another took over from: it must still be
		// registered (an empty old primary may have been deleted since).
		if ok, err := getVal(tx.b, volKey(p.vol), &volRec{}); err != nil || !ok {
			if err == nil {
				err = errBlobGone
			}
			return err
		}
	}
	return nil
}

// event is the record of a message with this blob. It names the volume
// the blob is on (blob-first) or its copy goes to (inline: the primary of
// this round), so the record places the blob by itself whichever volume
// is the primary when it is replayed or restored.
func (p blobPlan) event(tx *txn, body []byte, reason event.AddReason) event.MessageAdded {
	ev := event.MessageAdded{Digest: p.d, Size: p.size, Reason: reason, ItemType: event.ItemMessage}
	if p.inline {
		ev.Blob = body
		ev.Volume = tx.primary().name
	} else {
		ev.Volume = p.vol
	}
	return ev
}

// acceptTarget checks that acct can take size more bytes into folder and
// returns the target (ids chosen) for it. A restore (restored) is not held
// to the quota, as in Zimbra, and may write into an account in maintenance
// (an in-place rollback puts the account there while it runs).
func (e *Engine) acceptTarget(tx *txn, acct, folder uint64, inbox, restored bool, size int64, flags []string, date int64) (event.Target, error) {
	a, err := tx.account(acct)
	if err != nil {
		return event.Target{}, err
	}
	switch {
	case a.A.Status == event.StatusActive, a.A.Status == event.StatusLocked:
	case restored && a.A.Status == event.StatusMaintenance:
	default:
		return event.Target{}, &StatusError{Status: a.A.Status}
	}
	if !restored && a.A.Quota > 0 && a.Used+size > a.A.Quota {
		return event.Target{}, fmt.Errorf("%w: account %d uses %d of %d bytes, message is %d",
			ErrQuotaExceeded, acct, a.Used, a.A.Quota, size)
	}
	if inbox {
		id, ok, err := folderIDByPath(tx.b, acct, InboxName)
		if err != nil {
			return event.Target{}, err
		}
		if !ok {
			return event.Target{}, notFoundf("INBOX of account %d", acct)
		}
		folder = id
	}
	f, err := tx.folder(acct, folder)
	if err != nil {
		return event.Target{}, err
	}
	return event.Target{Account: acct, Folder: folder, Item: a.NextItem, UID: f.UIDNext,
		Flags: flags, InternalDate: date}, nil
}

// Deliver stores one message for every recipient that can take it, in one
// record with one blob. Each recipient gets its own result; the returned
// error means the whole delivery failed (storage, ErrTooLarge, ErrClosed).
func (e *Engine) Deliver(ctx context.Context, d Delivery) ([]RecipientResult, error) {
	flags, err := canonFlags(d.Flags)
	if err != nil {
		return nil, err
	}
	date := d.InternalDate
	if date.IsZero() {
		date = e.opts.Now()
	}
	for attempt := 0; ; attempt++ {
		p, err := e.prepareBlob(ctx, d.Body, attempt > 0)
		if err != nil {
			return nil, err
		}
		res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
			if err := p.checkBlob(tx); err != nil {
				return nil, nil, err
			}
			ev := p.event(tx, d.Body, event.AddDelivered)
			results := make([]RecipientResult, len(d.Recipients))
			seen := map[uint64]int{}
			for i, r := range d.Recipients {
				results[i].Account = r
				if j, dup := seen[r]; dup {
					results[i] = results[j] // one copy per account
					continue
				}
				seen[r] = i
				t, err := e.acceptTarget(tx, r, 0, true, false, p.size, flags, date.UnixNano())
				if err != nil {
					if errors.Is(err, ErrCorrupt) {
						return nil, nil, err
					}
					results[i].Err = err
					continue
				}
				ev.Targets = append(ev.Targets, t)
				results[i].Item = Item{ID: t.Item, Folder: t.Folder, UID: t.UID, Type: event.ItemMessage,
					Flags: flags, InternalDate: fromNano(t.InternalDate), Size: p.size, Digest: p.d, ModSeq: tx.lsn}
			}
			if len(ev.Targets) == 0 {
				return nil, results, nil
			}
			return ev, results, nil
		})
		if errors.Is(err, errBlobGone) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return res.([]RecipientResult), nil
	}
}

// Append stores a message in a folder (IMAP APPEND, import).
func (e *Engine) Append(ctx context.Context, acct, folder uint64, body []byte, flags []string, internalDate time.Time) (Item, error) {
	return e.AppendReason(ctx, acct, folder, body, flags, internalDate, event.AddAppended)
}

// AppendReason is Append with the reason recorded in the event (a restore
// passes event.AddRestored).
func (e *Engine) AppendReason(ctx context.Context, acct, folder uint64, body []byte, flags []string, internalDate time.Time, reason event.AddReason) (Item, error) {
	fl, err := canonFlags(flags)
	if err != nil {
		return Item{}, err
	}
	if internalDate.IsZero() {
		internalDate = e.opts.Now()
	}
	for attempt := 0; ; attempt++ {
		p, err := e.prepareBlob(ctx, body, attempt > 0)
		if err != nil {
			return Item{}, err
		}
		res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
			if err := p.checkBlob(tx); err != nil {
				return nil, nil, err
			}
			t, err := e.acceptTarget(tx, acct, folder, false, reason == event.AddRestored, p.size, fl, internalDate.UnixNano())
			if err != nil {
				return nil, nil, err
			}
			ev := p.event(tx, body, reason)
			ev.Targets = []event.Target{t}
			return ev, Item{ID: t.Item, Folder: t.Folder, UID: t.UID, Type: event.ItemMessage, Flags: fl,
				InternalDate: fromNano(t.InternalDate), Size: p.size, Digest: p.d, ModSeq: tx.lsn}, nil
		})
		if errors.Is(err, errBlobGone) && attempt < 3 {
			continue
		}
		if err != nil {
			return Item{}, err
		}
		return res.(Item), nil
	}
}
