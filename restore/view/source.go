package view

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidemark/tidemark/engine"
)

// The IMAP layer serves a second, read-only mailbox source beside the
// live account (mailserver/imap, Source and SourceRouter). Source is that
// source for one account's view, in the engine's types, so this package
// does not depend on the protocol; the composition root adapts Router to
// the IMAP layer's router.

// ErrReadOnly refuses a change to the view. errors.Is(err,
// engine.ErrReadOnly) holds too, which the IMAP layer answers with
// NO [CANNOT].
var ErrReadOnly error = readOnlyError{}

type readOnlyError struct{}

func (readOnlyError) Error() string        { return "view: the backup view is read-only" }
func (readOnlyError) Is(target error) bool { return target == engine.ErrReadOnly }

// modSeq is the one MODSEQ of every message of a view folder: a snapshot
// never changes, so nothing is ever changed since it.
const modSeq = 1

// Router routes mailbox names of the view's namespace to Sources.
type Router struct {
	s *Service
}

// Router returns the service's router.
func (s *Service) Router() *Router { return &Router{s: s} }

// Route returns a Source for a name under the prefix of acct's view, or
// nil for any other name (a live folder). The account's view must be on
// (ErrDisabled otherwise).
func (r *Router) Route(ctx context.Context, acct uint64, name string) (*Source, error) {
	if _, ok, _ := r.s.ParseName(name); !ok {
		return nil, nil
	}
	a, err := r.s.Account(ctx, acct)
	if err != nil {
		return nil, err
	}
	return a.Source(), nil
}

// Source serves the mailboxes of one account's view to the IMAP layer.
// Folder ids and item ids are the source's own: a folder id names a
// mailbox this Source opened (by Folder), an item id the backup's item
// id, unique within a view folder. Safe for concurrent use.
type Source struct {
	a  *Account
	at time.Time // for a USER+at=TIME session: names are live paths at this time

	mu    sync.Mutex
	boxes []*Mailbox // folder id = index + 1
}

// Source returns a source for the account's view under the prefix.
func (a *Account) Source() *Source { return &Source{a: a} }

// SourceAt returns a source that serves every folder name as the account
// had it at t (a USER+at=TIME session): "INBOX" is INBOX at t.
func (a *Account) SourceAt(t time.Time) (*Source, error) {
	if err := a.Check(t); err != nil {
		return nil, err
	}
	return &Source{a: a, at: t}, nil
}

// Key names the source in caches shared across sessions: the backup's
// item ids of one account (an item's bytes never change).
func (s *Source) Key() string { return "backup/" + strconv.FormatUint(s.a.id, 10) }

// ReadOnly is true: the view is read-only.
func (s *Source) ReadOnly() bool { return true }

// Folder opens the mailbox name and returns it as a folder whose id is
// the source's own. A name of no folder then fails with an error wrapping
// engine.ErrNotFound (and ErrNoFolder); a bad name with ErrBadName; times
// outside the window as Check says.
func (s *Source) Folder(ctx context.Context, name string) (engine.Folder, error) {
	box, path, err := s.open(ctx, name)
	if err != nil {
		return engine.Folder{}, err
	}
	s.mu.Lock()
	s.boxes = append(s.boxes, box)
	id := uint64(len(s.boxes))
	s.mu.Unlock()
	f := engine.Folder{ID: id, Name: lastSegment(path), Path: path, UIDValidity: box.UIDValidity, UIDNext: box.UIDNext,
		HighestModSeq: modSeq, Messages: uint32(len(box.Messages))}
	for _, m := range box.Messages {
		if !hasFlag(m.Flags, `\Seen`) {
			f.Unseen++
		}
		if hasFlag(m.Flags, `\Deleted`) {
			f.Deleted++
		}
		f.Size += m.Size
	}
	return f, nil
}

func (s *Source) open(ctx context.Context, name string) (*Mailbox, string, error) {
	if !s.at.IsZero() {
		if err := checkPath(name); err != nil {
			return nil, "", fmt.Errorf("%w: %w: %v", engine.ErrNotFound, ErrBadName, err)
		}
		box, err := s.a.Open(ctx, s.at, name)
		return box, name, notFound(err)
	}
	n, ok, err := s.a.s.ParseName(name)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	}
	if !ok || n.Kind == KindRoot || n.Kind == KindPoint {
		return nil, "", fmt.Errorf("%w: %w: %q is not a selectable mailbox of the backup view", engine.ErrNotFound, ErrNoFolder, name)
	}
	box, err := s.a.OpenName(ctx, n)
	return box, name, notFound(err)
}

// notFound makes a folder the view does not have an engine.ErrNotFound.
func notFound(err error) error {
	if err != nil && (errors.Is(err, ErrNoFolder) || errors.Is(err, ErrNotInBackup)) {
		return fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	}
	return err
}

func (s *Source) box(folder uint64) (*Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if folder == 0 || folder > uint64(len(s.boxes)) {
		return nil, fmt.Errorf("%w: folder %d of the backup view", engine.ErrNotFound, folder)
	}
	return s.boxes[folder-1], nil
}

// Items lists the folder's messages in UID order as engine items (MODSEQ
// 1, the backup's item ids).
func (s *Source) Items(ctx context.Context, folder uint64) ([]engine.Item, error) {
	box, err := s.box(folder)
	if err != nil {
		return nil, err
	}
	out := make([]engine.Item, len(box.Messages))
	for i, m := range box.Messages {
		out[i] = engine.Item{ID: m.Item, Folder: folder, UID: m.UID, Flags: m.Flags, InternalDate: m.InternalDate,
			Size: m.Size, Digest: m.Digest, ModSeq: modSeq}
	}
	return out, nil
}

// ChangedSince returns every item for a MODSEQ below 1, else none: a
// snapshot never changes.
func (s *Source) ChangedSince(ctx context.Context, folder, modseq uint64) ([]engine.Item, error) {
	if modseq >= modSeq {
		if _, err := s.box(folder); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return s.Items(ctx, folder)
}

// VanishedSince returns nothing: no message leaves a snapshot.
func (s *Source) VanishedSince(ctx context.Context, folder, modseq uint64, uids []engine.UIDRange) ([]uint32, error) {
	_, err := s.box(folder)
	return nil, err
}

// OpenBlob returns a message's original bytes (ReadMessage) and size.
func (s *Source) OpenBlob(ctx context.Context, item uint64) (io.ReadCloser, int64, error) {
	m, err := s.message(item)
	if err != nil {
		return nil, 0, err
	}
	rc, err := s.a.ReadMessage(ctx, m)
	if err != nil {
		return nil, 0, err
	}
	return rc, m.Size, nil
}

// message finds an item in the mailboxes this source opened.
func (s *Source) message(item uint64) (Message, error) {
	s.mu.Lock()
	boxes := s.boxes
	s.mu.Unlock()
	for i := len(boxes) - 1; i >= 0; i-- {
		if j, ok := boxes[i].findItem(item); ok {
			return boxes[i].Messages[j], nil
		}
	}
	return Message{}, fmt.Errorf("%w: item %d of the backup view", engine.ErrNotFound, item)
}

// Search returns the ids of the folder's items matching c, in UID order.
func (s *Source) Search(ctx context.Context, folder uint64, c *engine.SearchCriteria) ([]uint64, error) {
	box, err := s.box(folder)
	if err != nil {
		return nil, err
	}
	uids, err := s.a.Search(ctx, box, c)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(uids))
	for i, uid := range uids {
		j, _ := box.Find(uid)
		out[i] = box.Messages[j].Item
	}
	return out, nil
}

// StoreFlags refuses: the view is read-only.
func (s *Source) StoreFlags(ctx context.Context, folder uint64, items []uint64, op engine.FlagOp, flags []string, o engine.StoreOptions) (engine.StoreResult, error) {
	return engine.StoreResult{}, ErrReadOnly
}

// Expunge refuses: the view is read-only.
func (s *Source) Expunge(ctx context.Context, folder uint64, items []uint64) ([]engine.Item, error) {
	return nil, ErrReadOnly
}

// Copy restores the items into the live folder to (CopyBack) and returns
// the new items in the order given. A copy of which some items could not
// be restored returns the ones that were and an error wrapping
// restore.ErrIncomplete that says why.
func (s *Source) Copy(ctx context.Context, folder uint64, items []uint64, to engine.Folder) ([]engine.Item, error) {
	box, err := s.box(folder)
	if err != nil {
		return nil, err
	}
	uids := make([]uint32, len(items))
	for i, id := range items {
		j, ok := box.findItem(id)
		if !ok {
			return nil, fmt.Errorf("%w: item %d of the backup view", engine.ErrNotFound, id)
		}
		uids[i] = box.Messages[j].UID
	}
	rep, made, err := s.a.CopyBack(ctx, box, uids, to.Path)
	if err != nil {
		return nil, err
	}
	return made, rep.Incomplete()
}

// Move copies, as the issue asks of the view: the backup keeps its copy.
func (s *Source) Move(ctx context.Context, folder uint64, items []uint64, to engine.Folder) ([]engine.Item, error) {
	return s.Copy(ctx, folder, items, to)
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

func lastSegment(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
