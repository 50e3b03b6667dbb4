package view

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
)

// Mailbox is one folder of the view: a folder as it was at a time, or the
// Deleted folder. It is a read-only snapshot shared by every session that
// opens the same folder at the same time: callers must not modify it.
type Mailbox struct {
	// Path is the folder's path ("" for Deleted).
	Path string
	// At is the time it shows (for Deleted, the newest deletion's time
	// bound: now when it was opened).
	At time.Time
	// UIDValidity is derived from the folder and the time for a folder,
	// from the newest deletion for Deleted; never 0.
	UIDValidity uint32
	// UIDNext is one more than the last message's UID (1 when empty).
	UIDNext uint32
	// Messages in ascending UID order.
	Messages []Message
	// SpecialUse is the folder's special use then ("" for Deleted).
	SpecialUse string
	// Deleted is set for the Deleted folder.
	Deleted bool
	// damaged says why the folder is not served ("" when it is).
	damaged string
	// acct is the account whose view it is.
	acct uint64
	// byItem indexes Messages by item id, built once on first use.
	indexOnce sync.Once
	byItem    map[uint64]int
}

// Message is one message of a Mailbox.
type Message struct {
	// UID in the view: the message's UID in its folder at the time (so
	// stable for a (folder, time)); for Deleted, its place counted from
	// the newest deletion (1 for the newest).
	UID uint32
	// Item is the item's id in the account.
	Item uint64
	// Flags then (for Deleted: before the deletion, without \Deleted).
	Flags        []string
	InternalDate time.Time
	Size         int64
	Digest       dedup.Digest
	// Folder is the folder's path then (for Deleted: the folder it was
	// deleted from).
	Folder string
	// DeletedAt is when it was deleted (Deleted only).
	DeletedAt time.Time
	// version picks what a copy-back restores: the item's last live
	// version at or before it.
	version time.Time
}

// Find returns the index of the message with uid.
func (m *Mailbox) Find(uid uint32) (int, bool) {
	i := sort.Search(len(m.Messages), func(i int) bool { return m.Messages[i].UID >= uid })
	return i, i < len(m.Messages) && m.Messages[i].UID == uid
}

// findItem returns the index of the message of item id.
func (m *Mailbox) findItem(id uint64) (int, bool) {
	m.indexOnce.Do(func() {
		m.byItem = make(map[uint64]int, len(m.Messages))
		for i, x := range m.Messages {
			m.byItem[x.Item] = i
		}
	})
	i, ok := m.byItem[id]
	return i, ok
}

// snapshot is the account at one time as the view serves it: its folders
// and each folder's messages.
type snapshot struct {
	folders []Folder
	boxes   map[string]*Mailbox
	weight  int // messages + folders + 1: what it costs the cache
}

// Open returns the folder path as it was at t. t must be in the window
// (Check); a folder the account did not have then fails with ErrNoFolder.
// The first open of a time reads the account's state at that time from
// the catalog (every folder at once); later ones, from any session, are
// served from the cache.
func (a *Account) Open(ctx context.Context, t time.Time, path string) (*Mailbox, error) {
	if err := a.Check(t); err != nil {
		return nil, err
	}
	snap, err := a.s.cache.get(a.snapKey(t), func() (*snapshot, error) { return a.load(ctx, t) })
	if err != nil {
		return nil, err
	}
	box, ok := snap.boxes[normPath(path)]
	if !ok {
		return nil, fmt.Errorf("%w: %q at %s", ErrNoFolder, path, stamp(t))
	}
	if box.damaged != "" {
		return nil, fmt.Errorf("%w: folder %q at %s is not served: %s", ErrCorrupt, path, stamp(t), box.damaged)
	}
	return box, nil
}

// OpenName opens the mailbox a parsed name denotes (KindFolder or
// KindDeleted); other kinds are not selectable and fail with ErrNoFolder.
func (a *Account) OpenName(ctx context.Context, n Name) (*Mailbox, error) {
	switch n.Kind {
	case KindFolder:
		return a.Open(ctx, n.At, n.Folder)
	case KindDeleted:
		return a.Deleted(ctx)
	}
	return nil, fmt.Errorf("%w: not a folder", ErrNoFolder)
}

// load reads the account's state at t.
func (a *Account) load(ctx context.Context, t time.Time) (*snapshot, error) {
	st, err := a.s.cat.AccountAt(ctx, a.id, t)
	if errors.Is(err, repository.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotInBackup, stamp(t))
	}
	if err != nil {
		return nil, fmt.Errorf("view: account at %s: %w", stamp(t), err)
	}
	folders, valid := a.s.checkFolders(a.id, t, st.Folders)
	snap := &snapshot{folders: folders, boxes: make(map[string]*Mailbox, len(valid)), weight: 1 + len(folders)}
	byID := make(map[uint64]*Mailbox, len(valid))
	for _, f := range valid {
		box := &Mailbox{Path: f.Path, At: t, SpecialUse: f.SpecialUse, UIDNext: 1, acct: a.id,
			UIDValidity: uidValidity(a.id, f.ID, uint64(f.UIDValidity), uint64(t.UnixNano()))}
		snap.boxes[f.Path] = box
		byID[f.ID] = box
	}
	flags := interner{}
	bad := map[*Mailbox]string{}
	for _, it := range st.Items {
		box, ok := byID[it.Folder]
		if !ok || bad[box] != "" {
			continue // a folder left out as damaged, or its items
		}
		if why := a.s.checkItem(it, box); why != "" {
			bad[box] = why
			continue
		}
		box.Messages = append(box.Messages, Message{UID: it.UID, Item: it.ID, Flags: flags.clean(it.Flags, false),
			InternalDate: it.InternalDate, Size: it.Size, Digest: it.Digest, Folder: box.Path, version: t})
		box.UIDNext = it.UID + 1
		snap.weight++
	}
	for box, why := range bad {
		a.s.opts.Logger.Warn("view: folder not served: damaged backup data", "account", a.id, "folder", box.Path, "at", stamp(t), "why", why)
		box.Messages, box.UIDNext, box.damaged = nil, 1, why
	}
	return snap, nil
}

// checkItem says what makes an item of the catalog impossible to serve in
// box ("" when nothing): items come sorted by UID within a folder, so a
// UID that does not rise is a duplicate or the order is broken.
func (s *Service) checkItem(it catalog.ItemVersion, box *Mailbox) string {
	switch {
	case it.UID == 0:
		return fmt.Sprintf("item %d has UID 0", it.ID)
	case it.UID < box.UIDNext:
		return fmt.Sprintf("item %d has UID %d, not above the one before it", it.ID, it.UID)
	case it.UID == ^uint32(0):
		return fmt.Sprintf("item %d has the largest UID", it.ID)
	case it.Size < 0 || it.Size > s.opts.MaxMessageSize:
		return fmt.Sprintf("item %d has size %d", it.ID, it.Size)
	}
	return ""
}

// checkFolders leaves out folders whose path no live folder could have or
// that another folder of the same time already has, and logs them.
func (s *Service) checkFolders(acct uint64, t time.Time, fs []catalog.FolderState) ([]Folder, []catalog.FolderState) {
	out := make([]Folder, 0, len(fs))
	valid := make([]catalog.FolderState, 0, len(fs))
	seen := make(map[string]bool, len(fs))
	for _, f := range fs {
		f.Path = normPath(f.Path)
		err := checkPath(f.Path)
		if err == nil && seen[f.Path] {
			err = fmt.Errorf("path %q given twice", f.Path)
		}
		if err != nil {
			s.opts.Logger.Warn("view: folder not served: damaged backup data", "account", acct, "folder", f.ID, "at", stamp(t), "err", err)
			continue
		}
		seen[f.Path] = true
		out = append(out, Folder{Path: f.Path, SpecialUse: f.SpecialUse, Subscribed: f.Subscribed})
		valid = append(valid, f)
	}
	return out, valid
}

// Deleted returns the Deleted folder: every message of the account deleted
// in the window, newest deletion first. UIDs count from the newest (1),
// so they stay the same while no newer deletion comes; UIDVALIDITY is
// derived from the newest deletion and changes with it.
func (a *Account) Deleted(ctx context.Context) (*Mailbox, error) {
	from, to := a.Window()
	k := snapKey{acct: a.id, at: from.Truncate(time.Minute).UnixNano(), deleted: true}
	if lsn, _, err := a.s.cat.Position(); err == nil {
		k.lsn = lsn
	}
	snap, err := a.s.cache.get(k, func() (*snapshot, error) { return a.loadDeleted(ctx, from, to) })
	if err != nil {
		return nil, err
	}
	return snap.boxes[""], nil
}

func (a *Account) loadDeleted(ctx context.Context, from, to time.Time) (*snapshot, error) {
	dels, err := a.s.cat.DeletedBetween(ctx, a.id, from, to)
	if err != nil {
		return nil, fmt.Errorf("view: deleted messages: %w", err)
	}
	kept := dels[:0]
	for _, d := range dels {
		if d.Size < 0 || d.Size > a.s.opts.MaxMessageSize {
			a.s.opts.Logger.Warn("view: deleted message not served: damaged backup data", "account", a.id, "item", d.ID, "size", d.Size)
			continue
		}
		kept = append(kept, d)
	}
	dels = kept
	sort.SliceStable(dels, func(i, j int) bool {
		x, y := dels[i], dels[j]
		if !x.Time.Equal(y.Time) {
			return x.Time.After(y.Time)
		}
		if x.LSN != y.LSN {
			return x.LSN > y.LSN
		}
		return x.ID > y.ID
	})
	if len(dels) >= int(^uint32(0)) {
		dels = dels[:^uint32(0)-1]
	}
	box := &Mailbox{At: to, Deleted: true, acct: a.id, UIDNext: uint32(len(dels)) + 1, Messages: make([]Message, 0, len(dels))}
	if len(dels) > 0 {
		box.UIDValidity = uidValidity(a.id, 0, dels[0].LSN, dels[0].ID)
	} else {
		box.UIDValidity = uidValidity(a.id, 0, 0, 0)
	}
	flags := interner{}
	for i, d := range dels {
		box.Messages = append(box.Messages, Message{UID: uint32(i + 1), Item: d.ID, Flags: flags.clean(d.Flags, true),
			InternalDate: d.InternalDate, Size: d.Size, Digest: d.Digest, Folder: d.FolderPath, DeletedAt: d.Time, version: d.Time})
	}
	return &snapshot{boxes: map[string]*Mailbox{"": box}, weight: 1 + len(dels)}, nil
}

// uidValidity hashes what names a view folder to a non-zero 32-bit value.
func uidValidity(acct, a, b, c uint64) uint32 {
	h := fnv.New32a()
	var buf [32]byte
	binary.BigEndian.PutUint64(buf[0:], acct)
	binary.BigEndian.PutUint64(buf[8:], a)
	binary.BigEndian.PutUint64(buf[16:], b)
	binary.BigEndian.PutUint64(buf[24:], c)
	h.Write(buf[:])
	if v := h.Sum32(); v != 0 {
		return v
	}
	return 1
}

// interner shares one string per distinct flag across a snapshot and
// drops what cannot be served as an IMAP flag.
type interner map[string]string

// clean returns the flags that are valid IMAP flags (an atom, or \ and an
// atom), without \Recent (never stored) and, with dropDeleted, without
// \Deleted.
func (in interner) clean(flags []string, dropDeleted bool) []string {
	if len(flags) == 0 {
		return nil
	}
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if !validFlag(f) || strings.EqualFold(f, `\Recent`) || dropDeleted && strings.EqualFold(f, `\Deleted`) {
			continue
		}
		s, ok := in[f]
		if !ok {
			in[f] = f
			s = f
		}
		out = append(out, s)
	}
	return out
}

// validFlag reports whether f is an IMAP flag (RFC 3501 flag-keyword or
// \ followed by an atom) of at most 256 bytes.
func validFlag(f string) bool {
	a := strings.TrimPrefix(f, `\`)
	if a == "" || len(f) > 256 {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// ReadMessage returns a message's original bytes, read from the
// repository and checked against its digest (Blobs.ReadBlob) and its size
// in the catalog; a mismatch fails with ErrCorrupt, a blob the repository
// lost with an error wrapping the repository's not-found error.
func (a *Account) ReadMessage(ctx context.Context, m Message) (io.ReadCloser, error) {
	if m.Size < 0 || m.Size > a.s.opts.MaxMessageSize {
		return nil, fmt.Errorf("%w: item %d has size %d", ErrCorrupt, m.Item, m.Size)
	}
	b, err := a.s.blobs.ReadBlob(ctx, m.Digest)
	if err != nil {
		return nil, fmt.Errorf("view: read item %d: %w", m.Item, err)
	}
	if int64(len(b)) != m.Size {
		return nil, fmt.Errorf("%w: item %d has %d bytes in the repository, %d in the catalog", ErrCorrupt, m.Item, len(b), m.Size)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
