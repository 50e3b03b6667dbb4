package imap

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// delim is the hierarchy delimiter; engine folder paths use the same.
const delim = '/'

// mailboxPath maps an IMAP mailbox name to an engine folder path: INBOX
// in any case (and as the first component) becomes "INBOX", a trailing
// delimiter (CREATE's "this will have children") is dropped.
func mailboxPath(name string) string {
	name = strings.TrimSuffix(name, string(delim))
	head, rest, found := strings.Cut(name, string(delim))
	if strings.EqualFold(head, "INBOX") {
		if found {
			return "INBOX" + string(delim) + rest
		}
		return "INBOX"
	}
	return name
}

func (s *session) folder(name string) (engine.Folder, error) {
	f, err := s.srv.b.FolderByPath(s.ctx, s.acct, mailboxPath(name))
	if err != nil {
		return engine.Folder{}, translate(s.srv.log, "folder", err)
	}
	return f, nil
}

func (s *session) Create(mailbox string, options *imap.CreateOptions) error {
	defer s.busy()()
	if err := s.pointInTime(); err != nil {
		return err
	}
	path := mailboxPath(mailbox)
	if path == "" {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}
	}
	var specialUse string
	if options != nil && len(options.SpecialUse) > 0 {
		if len(options.SpecialUse) > 1 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Only one special use per mailbox"}
		}
		specialUse = string(options.SpecialUse[0])
	}
	if err := s.checkFolderLimits(path, true); err != nil {
		return err
	}
	if err := s.createParents(path); err != nil {
		return err
	}
	// The engine does not subscribe what it creates: RFC 9051 section
	// 6.3.4 leaves subscribing to the client (SUBSCRIBE).
	_, err := s.srv.b.CreateFolder(s.ctx, s.acct, path, specialUse)
	return translate(s.srv.log, "create", err)
}

// createParents creates the missing superiors of path, as RFC 9051 asks
// of CREATE ("foo/bar/zap" creates "foo" and "foo/bar").
func (s *session) createParents(path string) error {
	parts := strings.Split(path, string(delim))
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], string(delim))
		_, err := s.srv.b.FolderByPath(s.ctx, s.acct, parent)
		if errors.Is(err, engine.ErrNotFound) {
			_, err = s.srv.b.CreateFolder(s.ctx, s.acct, parent, "")
			if errors.Is(err, engine.ErrExists) {
				err = nil
			}
		}
		if err != nil {
			return translate(s.srv.log, "create", err)
		}
	}
	return nil
}

func (s *session) Delete(mailbox string) error {
	defer s.busy()()
	if err := s.pointInTime(); err != nil {
		return err
	}
	f, err := s.folder(mailbox)
	if err != nil {
		return err
	}
	return translate(s.srv.log, "delete", s.srv.b.DeleteFolder(s.ctx, s.acct, f.ID))
}

func (s *session) Rename(mailbox, newName string, options *imap.RenameOptions) error {
	defer s.busy()()
	if err := s.pointInTime(); err != nil {
		return err
	}
	f, err := s.folder(mailbox)
	if err != nil {
		return err
	}
	path := mailboxPath(newName)
	if err := s.checkFolderLimits(path, false); err != nil {
		return err
	}
	if err := s.createParents(path); err != nil {
		return err
	}
	return translate(s.srv.log, "rename", s.srv.b.RenameFolder(s.ctx, s.acct, f.ID, path))
}

func (s *session) Status(mailbox string, options *imap.StatusOptions) (*imap.StatusData, error) {
	defer s.busy()()
	src, err := s.route(mailbox)
	if err != nil {
		return nil, translate(s.srv.log, "status", err)
	}
	if src.ReadOnly() {
		// Another source's mailbox (the backup view): its own counts, and
		// no \Recent, which belongs to live folders.
		f, err := src.Folder(s.ctx, mailbox)
		if err != nil {
			return nil, translate(s.srv.log, "status", err)
		}
		o := *options
		o.NumRecent = false
		d := s.statusData(f, &o)
		if options.NumRecent {
			d.NumRecent = ptr(uint32(0))
		}
		d.Mailbox = mailbox
		return d, nil
	}
	f, err := s.folder(mailbox)
	if err != nil {
		return nil, err
	}
	return s.statusData(f, options), nil
}

func (s *session) statusData(f engine.Folder, options *imap.StatusOptions) *imap.StatusData {
	d := &imap.StatusData{Mailbox: mailboxName(f.Path)}
	if options.NumMessages {
		d.NumMessages = ptr(f.Messages)
	}
	if options.NumRecent {
		d.NumRecent = ptr(s.statusRecent(f))
	}
	if options.UIDNext {
		d.UIDNext = imap.UID(f.UIDNext)
	}
	if options.UIDValidity {
		d.UIDValidity = f.UIDValidity
	}
	if options.NumUnseen {
		d.NumUnseen = ptr(f.Unseen)
	}
	if options.NumDeleted {
		d.NumDeleted = ptr(f.Deleted)
	}
	if options.Size {
		d.Size = ptr(f.Size)
	}
	if options.HighestModSeq {
		d.HighestModSeq = f.HighestModSeq
	}
	if options.AppendLimit {
		d.AppendLimit = ptr(s.srv.opts.AppendLimit)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// mailboxName is the IMAP name of an engine path.
func mailboxName(path string) string { return mailboxPath(path) }

// listSources lists the names of the router's other sources (the backup
// view) when it lists them: after the live folders, never for LSUB or the
// SUBSCRIBED and SPECIAL-USE selections, which they have none of.
func (s *session) listSources(w *listWriter, ref string, patterns []string, options *imap.ListOptions) error {
	l, ok := s.srv.opts.Sources.(SourceLister)
	if !ok || w.lsub || options.SelectSubscribed || options.SelectSpecialUse {
		return nil
	}
	full := make([]string, len(patterns))
	for i, p := range patterns {
		full[i] = ref + p
	}
	names, err := l.List(s.ctx, s.acct, full)
	if err != nil {
		s.srv.log.Debug("imap: list of another source", "err", err)
		return nil
	}
	for _, m := range names {
		if err := s.writeListed(w, m, ref, patterns); err != nil {
			return err
		}
	}
	return nil
}

// writeListed writes a name another source lists, when a pattern matches.
func (s *session) writeListed(w *listWriter, m ListedMailbox, ref string, patterns []string) error {
	if !matchAny(m.Name, ref, patterns) {
		return nil
	}
	data := &imap.ListData{Delim: delim, Mailbox: m.Name}
	if m.NoSelect {
		data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
	}
	if m.HasChildren {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
	} else {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
	}
	return w.WriteList(data)
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if matchList(name, delim, ref, p) {
			return true
		}
		// INBOX matches case-insensitively.
		if name == "INBOX" && matchList(name, delim, strings.ToUpper(ref), strings.ToUpper(p)) {
			return true
		}
	}
	return false
}

// specialUses are the RFC 6154 / RFC 8457 attributes; anything else the
// engine records (INBOX's \Inbox) is not announced.
var specialUses = []imap.MailboxAttr{imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts,
	imap.MailboxAttrFlagged, imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash, imap.MailboxAttrImportant}

// specialUseAttr renders a folder's special use as a LIST attribute
// ("Sent", "\sent" and "\Sent" all give \Sent).
func specialUseAttr(su string) imap.MailboxAttr {
	su = strings.TrimPrefix(su, `\`)
	for _, a := range specialUses {
		if strings.EqualFold(su, string(a)[1:]) {
			return a
		}
	}
	return ""
}

// errFolderLimit answers a CREATE or RENAME beyond MaxFolderDepth or
// MaxFolders.
func errFolderLimit(text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: text}
}

// checkFolderLimits bounds the folders a client can make: a path of at
// most MaxFolderDepth levels and, for a CREATE (which may create the
// missing superiors too), at most MaxFolders folders in the account. LIST
// costs grow with both, so they are bounded where they are made.
func (s *session) checkFolderLimits(path string, create bool) error {
	o := &s.srv.opts
	if o.MaxFolderDepth > 0 && strings.Count(path, string(delim))+1 > o.MaxFolderDepth {
		return errFolderLimit(fmt.Sprintf("Mailbox names have at most %d levels", o.MaxFolderDepth))
	}
	if !create || o.MaxFolders <= 0 {
		return nil
	}
	folders, err := s.srv.b.ListFolders(s.ctx, s.acct)
	if err != nil {
		return translate(s.srv.log, "create", err)
	}
	if len(folders)+strings.Count(path, string(delim))+1 > o.MaxFolders {
		return errFolderLimit(fmt.Sprintf("An account has at most %d mailboxes", o.MaxFolders))
	}
	return nil
}
