package imap

import (
	"context"
	"errors"
	"io"
	"strconv"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// Source serves the messages of selectable mailboxes: the account's live
// folders (liveSource, over the Backend), or a second, read-only source
// such as the backup view of issue 16 (restore/view). Everything a session
// does to its selected mailbox goes through the Source it was selected
// from; mailbox-level commands (LIST, CREATE, DELETE, RENAME, SUBSCRIBE)
// act on the live account.
//
// Folder and item ids are the source's own: the session passes back what
// Folder, Items and ChangedSince returned. Errors are engine errors
// (engine.ErrNotFound for a folder or item that is gone, engine.ErrReadOnly
// for a change a read-only source refuses), translated at the protocol
// edge. Methods are called concurrently from many sessions.
type Source interface {
	// Key names the source for caches shared across sessions (the
	// header cache): item ids of different sources must not collide.
	Key() string
	// ReadOnly sources are selected [READ-ONLY] whatever the command
	// (SELECT or EXAMINE); STORE, EXPUNGE, MOVE and APPEND into them
	// answer NO [CANNOT] without calling them.
	ReadOnly() bool

	Folder(ctx context.Context, name string) (engine.Folder, error)
	Items(ctx context.Context, folder uint64) ([]engine.Item, error)
	ChangedSince(ctx context.Context, folder, modseq uint64) ([]engine.Item, error)
	VanishedSince(ctx context.Context, folder, modseq uint64, uids []engine.UIDRange) ([]uint32, error)
	OpenBlob(ctx context.Context, item uint64) (io.ReadCloser, int64, error)
	Search(ctx context.Context, folder uint64, c *engine.SearchCriteria) ([]uint64, error)

	StoreFlags(ctx context.Context, folder uint64, items []uint64, op engine.FlagOp, flags []string, o engine.StoreOptions) (engine.StoreResult, error)
	Expunge(ctx context.Context, folder uint64, items []uint64) ([]engine.Item, error)
	// Copy copies items into the live folder to (for a read-only source:
	// restores them there) and returns the new items in the order given.
	Copy(ctx context.Context, folder uint64, items []uint64, to engine.Folder) ([]engine.Item, error)
	Move(ctx context.Context, folder uint64, items []uint64, to engine.Folder) ([]engine.Item, error)
}

// SourceRouter picks the Source of a mailbox name other than the live
// account's: Route returns nil for a name it does not serve. It is
// Options.Sources; see doc.go.
type SourceRouter interface {
	Route(ctx context.Context, acct uint64, name string) (Source, error)
}

// SourceLister is an optional part of a SourceRouter: the names it serves
// are listed by LIST (after the live folders; not by LSUB nor the
// SUBSCRIBED and SPECIAL-USE selections) and its namespace is advertised
// by NAMESPACE as a shared namespace. An error leaves its names out of
// the answer; it never fails the command.
type SourceLister interface {
	// Namespace is the prefix of the names served to acct, without the
	// delimiter ("" when none: NAMESPACE then shows no shared namespace).
	Namespace(ctx context.Context, acct uint64) string
	// List returns the names served to acct that the patterns (with the
	// reference already prepended) may match; the session filters them
	// again. A lister may skip levels no pattern reaches.
	List(ctx context.Context, acct uint64, patterns []string) ([]ListedMailbox, error)
}

// LoginRouter is an optional part of a SourceRouter: logins it claims
// (the backup view's USER+at=TIME) authenticate USER with the password
// and open a point-in-time session, in which every mailbox name is served
// by one read-only source, LIST shows that source's names, and CREATE,
// DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE and APPEND answer NO [CANNOT].
// COPY still copies into the live folder of the name given (a restore).
type LoginRouter interface {
	// SplitLogin returns the user of a login it claims (ok true), or ok
	// false for an ordinary login; err for a claimed login it cannot read.
	SplitLogin(login string) (user string, ok bool, err error)
	// SessionSource opens the source of the session of acct that logged
	// in as login, and the names LIST shows in it. Its error (a time
	// before the account, outside the window, the view turned off) refuses
	// the login with its text.
	SessionSource(ctx context.Context, acct uint64, login string) (Source, []ListedMailbox, error)
}

// ListedMailbox is one name a SourceLister lists.
type ListedMailbox struct {
	Name        string
	NoSelect    bool // a level of the hierarchy, not a mailbox
	HasChildren bool
}

// changesSource is an optional part of a Source: what changed in a
// folder since a MODSEQ, read from a change index at a cost that follows
// the changes (engine.Engine.ChangesSince). A session resynchronises its
// view with it after every change; a Source without it is listed whole.
type changesSource interface {
	ChangesSince(ctx context.Context, folder, modseq uint64) (engine.Changes, error)
}

// liveSource is the account's live folders.
type liveSource struct {
	b    Backend
	acct uint64
}

var (
	_ Source          = liveSource{}
	_ changesSource   = liveSource{}
	_ headerSource    = liveSource{}
	_ digestReader    = liveSource{}
	_ deletedExpunger = liveSource{}
	_ amongSearcher   = liveSource{}
	_ atSource        = liveSource{}
)

func (l liveSource) Key() string    { return "live/" + strconv.FormatUint(l.acct, 10) }
func (l liveSource) ReadOnly() bool { return false }

func (l liveSource) Folder(ctx context.Context, name string) (engine.Folder, error) {
	return l.b.FolderByPath(ctx, l.acct, mailboxPath(name))
}

func (l liveSource) Items(ctx context.Context, folder uint64) ([]engine.Item, error) {
	return l.b.ListItems(ctx, l.acct, folder)
}

func (l liveSource) ChangedSince(ctx context.Context, folder, modseq uint64) ([]engine.Item, error) {
	return l.b.ChangedSince(ctx, l.acct, folder, modseq)
}

func (l liveSource) ChangesSince(ctx context.Context, folder, modseq uint64) (engine.Changes, error) {
	return l.b.ChangesSince(ctx, l.acct, folder, modseq)
}

func (l liveSource) VanishedSince(ctx context.Context, folder, modseq uint64, uids []engine.UIDRange) ([]uint32, error) {
	return l.b.VanishedSince(ctx, l.acct, folder, modseq, uids)
}

func (l liveSource) OpenBlob(ctx context.Context, item uint64) (io.ReadCloser, int64, error) {
	return l.b.OpenBlob(ctx, l.acct, item)
}

func (l liveSource) ReadBlobOf(ctx context.Context, d [32]byte, buf []byte) (raw, next []byte, err error) {
	return l.b.ReadBlobOf(ctx, d, buf)
}

func (l liveSource) ReadHeader(ctx context.Context, _ uint64, digest [32]byte, size int64) ([]byte, error) {
	return l.b.BlobHeader(ctx, digest, size)
}

func (l liveSource) Search(ctx context.Context, folder uint64, c *engine.SearchCriteria) ([]uint64, error) {
	return l.b.Search(ctx, l.acct, folder, c)
}

// errNoAmong: the backend cannot search given items; the folder is
// searched instead.
var errNoAmong = errors.New("imap: backend cannot search given items")

func (l liveSource) SearchAmong(ctx context.Context, items []engine.Item, c *engine.SearchCriteria) ([]uint64, error) {
	a, ok := l.b.(interface {
		SearchAmong(ctx context.Context, items []engine.Item, c *engine.SearchCriteria) ([]uint64, error)
	})
	if !ok {
		return nil, errNoAmong
	}
	return a.SearchAmong(ctx, items, c)
}

func (l liveSource) StoreFlags(ctx context.Context, folder uint64, items []uint64, op engine.FlagOp, flags []string, o engine.StoreOptions) (engine.StoreResult, error) {
	return l.StoreFlagsAt(ctx, folder, engine.AnyUID(items), op, flags, o)
}

func (l liveSource) Expunge(ctx context.Context, folder uint64, items []uint64) ([]engine.Item, error) {
	return l.ExpungeAt(ctx, folder, engine.AnyUID(items))
}

func (l liveSource) Copy(ctx context.Context, folder uint64, items []uint64, to engine.Folder) ([]engine.Item, error) {
	return l.CopyAt(ctx, folder, engine.AnyUID(items), to)
}

func (l liveSource) Move(ctx context.Context, folder uint64, items []uint64, to engine.Folder) ([]engine.Item, error) {
	return l.MoveAt(ctx, folder, engine.AnyUID(items), to)
}

func (l liveSource) StoreFlagsAt(ctx context.Context, folder uint64, items []engine.ItemAt, op engine.FlagOp, flags []string, o engine.StoreOptions) (engine.StoreResult, error) {
	return l.b.StoreFlagsAt(ctx, l.acct, folder, items, op, flags, o)
}

func (l liveSource) ExpungeAt(ctx context.Context, folder uint64, items []engine.ItemAt) ([]engine.Item, error) {
	return l.b.ExpungeAt(ctx, l.acct, folder, items)
}

func (l liveSource) ExpungeDeletedAt(ctx context.Context, folder uint64, items []engine.ItemAt) ([]engine.Item, error) {
	return l.b.ExpungeDeletedAt(ctx, l.acct, folder, items)
}

func (l liveSource) CopyAt(ctx context.Context, folder uint64, items []engine.ItemAt, to engine.Folder) ([]engine.Item, error) {
	return l.b.CopyAt(ctx, l.acct, folder, items, to.ID)
}

func (l liveSource) MoveAt(ctx context.Context, folder uint64, items []engine.ItemAt, to engine.Folder) ([]engine.Item, error) {
	return l.b.MoveAt(ctx, l.acct, folder, items, to.ID)
}

// atSource is an optional part of a Source whose items keep their id
// when they move under a new UID (the live account: a MOVE into the same
// folder, or away and back): its changes name each item with the UID the
// session saw it at (engine.ItemAt) and leave it alone, as an expunged
// one, when it is no longer there. A Source without it (the backup view,
// whose UIDs never change) is asked by id.
type atSource interface {
	StoreFlagsAt(ctx context.Context, folder uint64, items []engine.ItemAt, op engine.FlagOp, flags []string, o engine.StoreOptions) (engine.StoreResult, error)
	ExpungeAt(ctx context.Context, folder uint64, items []engine.ItemAt) ([]engine.Item, error)
	CopyAt(ctx context.Context, folder uint64, items []engine.ItemAt, to engine.Folder) ([]engine.Item, error)
	MoveAt(ctx context.Context, folder uint64, items []engine.ItemAt, to engine.Folder) ([]engine.Item, error)
}

// byID is the atSource of a Source without one: items by id alone.
type byID struct{ src Source }

func (b byID) StoreFlagsAt(ctx context.Context, folder uint64, items []engine.ItemAt, op engine.FlagOp, flags []string, o engine.StoreOptions) (engine.StoreResult, error) {
	return b.src.StoreFlags(ctx, folder, idsOf(items), op, flags, o)
}

func (b byID) ExpungeAt(ctx context.Context, folder uint64, items []engine.ItemAt) ([]engine.Item, error) {
	return b.src.Expunge(ctx, folder, idsOf(items))
}

func (b byID) CopyAt(ctx context.Context, folder uint64, items []engine.ItemAt, to engine.Folder) ([]engine.Item, error) {
	return b.src.Copy(ctx, folder, idsOf(items), to)
}

func (b byID) MoveAt(ctx context.Context, folder uint64, items []engine.ItemAt, to engine.Folder) ([]engine.Item, error) {
	return b.src.Move(ctx, folder, idsOf(items), to)
}

// changer is how the session changes its selected folder's items.
func (v *selected) changer() atSource {
	if a, ok := v.src.(atSource); ok {
		return a
	}
	return byID{v.src}
}

// idsOf is the ids of items (nil for nil).
func idsOf(items []engine.ItemAt) []uint64 {
	if items == nil {
		return nil
	}
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// route returns the source serving mailbox name: the router's when it
// claims the name, else the live account.
func (s *session) route(name string) (Source, error) {
	if s.at != nil {
		return s.at, nil
	}
	if r := s.srv.opts.Sources; r != nil {
		src, err := r.Route(s.ctx, s.acct, name)
		if err != nil {
			return nil, err
		}
		if src != nil {
			return src, nil
		}
	}
	return s.live(), nil
}

func (s *session) live() Source { return liveSource{b: s.srv.b, acct: s.acct} }

// errPointInTime refuses changes to the mailbox list in a point-in-time
// session.
var errPointInTime = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
	Text: "This session shows the account at a past time: it is read-only"}

// pointInTime refuses a change in a point-in-time session.
func (s *session) pointInTime() error {
	if s.at != nil {
		return errPointInTime
	}
	return nil
}
