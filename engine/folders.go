package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/engine/event"
)

// PathSep separates folder names in a path.
const PathSep = "/"

// InboxName is the name of every account's inbox; it is case-insensitive.
const InboxName = "INBOX"

// Folder is a folder with its IMAP state and counts.
type Folder struct {
	ID, Parent uint64
	Name, Path string
	SpecialUse string
	// Subscribed: the folder's path is in the account's subscription list
	// (Subscriptions).
	Subscribed bool
	// OwnSubscribed is the folder's own subscription flag, how
	// subscriptions were kept before the list of names (subscriptions.go);
	// Subscribed includes it. The backup follows it to stay a function of
	// the records that set it.
	OwnSubscribed bool
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      uint32
	Unseen        uint32
	Deleted       uint32
	Size          int64
}

func folderOf(f folderRec) Folder {
	return Folder{
		ID: f.ID, Parent: f.Parent, Name: f.Name, Path: f.Path, SpecialUse: f.SpecialUse,
		Subscribed: f.Subscribed, OwnSubscribed: f.Subscribed, UIDValidity: f.UIDValidity, UIDNext: f.UIDNext,
		HighestModSeq: f.HighestModSeq, Messages: f.Messages, Unseen: f.Unseen,
		Deleted: f.Deleted, Size: f.Size,
	}
}

// pathKeyOf is the index form of a path: "INBOX" (any case) as its first
// component is upper-cased, everything else is kept.
func pathKeyOf(path string) string {
	first, rest, has := strings.Cut(path, PathSep)
	if strings.EqualFold(first, InboxName) {
		if has {
			return InboxName + PathSep + rest
		}
		return InboxName
	}
	return path
}

var specialUses = map[string]bool{
	"": true, `\Inbox`: true, `\Sent`: true, `\Drafts`: true, `\Trash`: true, `\Junk`: true,
	`\Archive`: true, `\All`: true, `\Flagged`: true,
}

// splitPath checks a path and returns its components.
func splitPath(path string) ([]string, error) {
	path = strings.Trim(path, PathSep)
	if path == "" {
		return nil, invalidf("empty folder path")
	}
	parts := strings.Split(path, PathSep)
	for _, p := range parts {
		if !validName(p) {
			return nil, invalidf("folder path %q", path)
		}
	}
	if strings.EqualFold(parts[0], InboxName) {
		parts[0] = InboxName
	}
	return parts, nil
}

func folderIDByPath(r reader, acct uint64, path string) (uint64, bool, error) {
	b, c, err := r.Get(pathKey(acct, path))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	return binary.BigEndian.Uint64(b), true, nil
}

// ListFolders returns the account's folders sorted by path, with counts.
func (e *Engine) ListFolders(ctx context.Context, acct uint64) ([]Folder, error) {
	if _, err := loadAccount(e.db, acct); err != nil {
		return nil, err
	}
	subs, err := subscribedNames(e.db, acct)
	if err != nil {
		return nil, err
	}
	var out []Folder
	err = scan(e.db, folderPrefix(acct), func(_, v []byte) error {
		var f folderRec
		if err := decVal(v, &f); err != nil {
			return err
		}
		fo := folderOf(f)
		fo.Subscribed = fo.Subscribed || subs[f.Path]
		out = append(out, fo)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// GetFolder returns one folder.
func (e *Engine) GetFolder(ctx context.Context, acct, folder uint64) (Folder, error) {
	f, err := loadFolder(e.db, acct, folder)
	if err != nil {
		return Folder{}, err
	}
	fo := folderOf(f)
	if !fo.Subscribed {
		if fo.Subscribed, err = nameSubscribed(e.db, acct, f.Path); err != nil {
			return Folder{}, err
		}
	}
	return fo, nil
}

// FolderByPath finds a folder by path ("INBOX" in any case).
func (e *Engine) FolderByPath(ctx context.Context, acct uint64, path string) (Folder, error) {
	parts, err := splitPath(path)
	if err != nil {
		return Folder{}, notFoundf("folder %q", path)
	}
	id, ok, err := folderIDByPath(e.db, acct, strings.Join(parts, PathSep))
	if err != nil {
		return Folder{}, err
	}
	if !ok {
		return Folder{}, notFoundf("folder %q of account %d", path, acct)
	}
	return e.GetFolder(ctx, acct, id)
}

// CreateFolder creates a folder. Its parent folders must exist (ErrNotFound
// otherwise): a client creating "a/b/c" creates "a" and "a/b" first. It
// does not subscribe the folder (SetSubscriptions does); a name subscribed
// before is subscribed still.
func (e *Engine) CreateFolder(ctx context.Context, acct uint64, path, specialUse string) (Folder, error) {
	parts, err := splitPath(path)
	if err != nil {
		return Folder{}, err
	}
	if !specialUses[specialUse] || specialUse == `\Inbox` {
		return Folder{}, invalidf("special use %q", specialUse)
	}
	full := strings.Join(parts, PathSep)
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		a, err := tx.account(acct)
		if err != nil {
			return nil, nil, err
		}
		parent, err := freePath(tx, acct, parts)
		if err != nil {
			return nil, nil, err
		}
		if err := e.checkFolderLimits(tx, acct, len(parts), true); err != nil {
			return nil, nil, err
		}
		uv, err := e.nextUIDValidity(tx)
		if err != nil {
			return nil, nil, err
		}
		ev := event.FolderCreated{
			Account: acct, Folder: a.NextFolder, Parent: parent, Name: parts[len(parts)-1],
			SpecialUse: specialUse, UIDValidity: uv,
		}
		subscribed, err := nameSubscribed(tx.b, acct, full)
		if err != nil {
			return nil, nil, err
		}
		f := Folder{ID: ev.Folder, Parent: parent, Name: ev.Name, Path: full, SpecialUse: specialUse,
			Subscribed: subscribed, UIDValidity: uv, UIDNext: 1, HighestModSeq: tx.lsn}
		return ev, f, nil
	})
	if err != nil {
		return Folder{}, err
	}
	return res.(Folder), nil
}

// RenameFolder moves a folder (with its children) to newPath, whose parent
// must exist. Subscriptions stay with the old names (RFC 9051 6.3.6). Renaming INBOX, or into INBOX's place, is refused with
// ErrInvalid. The folder's UIDVALIDITY changes, since its name now shows
// other clients a different mailbox.
func (e *Engine) RenameFolder(ctx context.Context, acct, folder uint64, newPath string) error {
	parts, err := splitPath(newPath)
	if err != nil {
		return err
	}
	full := strings.Join(parts, PathSep)
	if f, err := loadFolder(e.db, acct, folder); err == nil && f.Path != InboxName {
		if err := e.keepSubscriptions(ctx, acct, f.Path, true); err != nil {
			return err
		}
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		f, err := tx.folder(acct, folder)
		if err != nil {
			return nil, nil, err
		}
		if f.Path == InboxName {
			return nil, nil, invalidf("renaming INBOX")
		}
		if full == InboxName {
			return nil, nil, existsf("folder INBOX")
		}
		if full == f.Path || strings.HasPrefix(full, f.Path+PathSep) {
			return nil, nil, invalidf("rename %q under itself", f.Path)
		}
		parent, err := freePath(tx, acct, parts)
		if err != nil {
			return nil, nil, err
		}
		below, err := subtreeDepth(tx, acct, f.Path)
		if err != nil {
			return nil, nil, err
		}
		if err := e.checkFolderLimits(tx, acct, len(parts)+below, false); err != nil {
			return nil, nil, err
		}
		uv, err := e.nextUIDValidity(tx)
		if err != nil {
			return nil, nil, err
		}
		return event.FolderRenamed{Account: acct, Folder: folder, NewParent: parent,
			NewName: parts[len(parts)-1], NewUIDValidity: uv}, nil, nil
	})
	return err
}

// DeleteFolder deletes a folder and the items in it. INBOX cannot be
// deleted (ErrInvalid), nor a folder with children (ErrFolderNotEmpty). A
// subscription of its name stays (RFC 9051 6.3.7).
func (e *Engine) DeleteFolder(ctx context.Context, acct, folder uint64) error {
	if f, err := loadFolder(e.db, acct, folder); err == nil && f.Path != InboxName {
		if err := e.keepSubscriptions(ctx, acct, f.Path, false); err != nil {
			return err
		}
	}
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		f, err := tx.folder(acct, folder)
		if err != nil {
			return nil, nil, err
		}
		if f.Path == InboxName {
			return nil, nil, invalidf("deleting INBOX")
		}
		hasKids := false
		err = scan(tx.b, folderPrefix(acct), func(_, v []byte) error {
			var c folderRec
			if err := decVal(v, &c); err != nil {
				return err
			}
			if c.Parent == folder {
				hasKids = true
				return errStopScan
			}
			return nil
		})
		if err != nil && err != errStopScan {
			return nil, nil, err
		}
		if hasKids {
			return nil, nil, wrapNotEmpty("folder %q has child folders", f.Path)
		}
		var items []uint64
		err = scan(tx.b, itemPrefix(acct, folder), func(_, v []byte) error {
			var it itemRec
			if err := decVal(v, &it); err != nil {
				return err
			}
			items = append(items, it.ID)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		return event.FolderDeleted{Account: acct, Folder: folder, Items: items}, nil, nil
	})
	return err
}

// freePath checks that no folder has the path parts names and returns the
// id of the folder that would be its parent (0: the account's root), which
// must exist.
func freePath(tx *txn, acct uint64, parts []string) (parent uint64, err error) {
	full := strings.Join(parts, PathSep)
	if _, ok, err := folderIDByPath(tx.b, acct, full); err != nil || ok {
		if err == nil {
			err = existsf("folder %q", full)
		}
		return 0, err
	}
	if len(parts) == 1 {
		return 0, nil
	}
	pid, ok, err := folderIDByPath(tx.b, acct, strings.Join(parts[:len(parts)-1], PathSep))
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, notFoundf("parent of folder %q", full)
	}
	return pid, nil
}

// checkFolderLimits refuses a folder path of depth levels beyond
// MaxFolderDepth and, for a new folder, one more folder than MaxFolders.
// Counting scans the account's path index (up to MaxFolders keys).
func (e *Engine) checkFolderLimits(tx *txn, acct uint64, depth int, create bool) error {
	if m := e.opts.MaxFolderDepth; m > 0 && depth > m {
		return limitf("a folder path has at most %d levels", m)
	}
	m := e.opts.MaxFolders
	if !create || m <= 0 {
		return nil
	}
	n := 0
	err := scan(tx.b, u64([]byte{tPath}, acct), func(_, _ []byte) error {
		if n++; n >= m {
			return errStopScan
		}
		return nil
	})
	if errors.Is(err, errStopScan) {
		return limitf("an account has at most %d folders", m)
	}
	return err
}

// subtreeDepth is how many levels the folders under path reach below it
// (0 for a folder without children).
func subtreeDepth(tx *txn, acct uint64, path string) (int, error) {
	prefix := pathKey(acct, path+PathSep)
	deepest := 0
	err := scan(tx.b, prefix, func(k, _ []byte) error {
		deepest = max(deepest, strings.Count(string(k[len(prefix):]), PathSep)+1)
		return nil
	})
	return deepest, err
}
