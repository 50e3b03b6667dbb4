package imap

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// Subscriptions are a list of names kept by the engine apart from the
// folders (RFC 9051 6.3.7 and 6.3.8): SUBSCRIBE of a name without a mailbox
// is accepted, DELETE and RENAME leave the list alone (RFC 9051 6.3.6), and
// LIST (SUBSCRIBED) shows a subscribed name whose mailbox does not exist
// with \NonExistent (RFC 5258 section 3.1), LSUB with \Noselect.

func (s *session) Subscribe(mailbox string) error { return s.setSubscribed(mailbox, true) }

func (s *session) Unsubscribe(mailbox string) error { return s.setSubscribed(mailbox, false) }

func (s *session) setSubscribed(mailbox string, on bool) error {
	defer s.busy()()
	if err := s.pointInTime(); err != nil {
		return err
	}
	path := mailboxPath(mailbox)
	if path == "" {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}
	}
	if src, err := s.route(mailbox); err == nil && src.ReadOnly() {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
			Text: "Mailboxes of the backup view cannot be subscribed"}
	}
	return translate(s.srv.log, "subscribe", s.srv.b.SetSubscriptions(s.ctx, s.acct, []string{path}, on))
}

// listEntry is one name LIST or LSUB may answer: a folder, a subscribed
// name, or (RECURSIVEMATCH, LSUB "%") a superior of a subscribed name.
type listEntry struct {
	name   string
	folder *engine.Folder // nil: no mailbox by that name
}

// List answers LIST (with LIST-EXTENDED selection and return options,
// RFC 5258; LIST-STATUS, RFC 5819; SPECIAL-USE, RFC 6154; CHILDREN) and
// LSUB (RFC 3501 6.3.9).
func (s *session) List(w *listWriter, ref string, patterns []string, options *imap.ListOptions) error {
	defer s.busy()()
	// LIST "" "" asks for the hierarchy delimiter (RFC 9051 6.3.9).
	if len(patterns) == 0 || (len(patterns) == 1 && patterns[0] == "") {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	if s.at != nil {
		if w.lsub || options != nil && (options.SelectSubscribed || options.SelectSpecialUse) {
			return nil
		}
		for _, m := range s.atNames {
			if err := s.writeListed(w, m, ref, patterns); err != nil {
				return err
			}
		}
		return nil
	}
	if options == nil {
		options = &imap.ListOptions{}
	}
	folders, err := s.srv.b.ListFolders(s.ctx, s.acct)
	if err != nil {
		return translate(s.srv.log, "list", err)
	}
	byName := make(map[string]*engine.Folder, len(folders))
	children := make(map[string]bool) // name has a child folder
	for i := range folders {
		name := mailboxName(folders[i].Path)
		byName[name] = &folders[i]
		if j := strings.LastIndexByte(name, byte(delim)); j > 0 {
			children[name[:j]] = true
		}
	}
	selSub := w.lsub || options.SelectSubscribed
	var subs map[string]bool
	subBelow := make(map[string]bool) // name has a subscribed descendant
	if selSub || options.ReturnSubscribed {
		names, err := s.srv.b.Subscriptions(s.ctx, s.acct)
		if err != nil {
			return translate(s.srv.log, "list", err)
		}
		subs = make(map[string]bool, len(names))
		for _, n := range names {
			n = mailboxName(n)
			subs[n] = true
			for j := strings.LastIndexByte(n, byte(delim)); j > 0; j = strings.LastIndexByte(n[:j], byte(delim)) {
				subBelow[n[:j]] = true
			}
		}
	}
	var entries []listEntry
	if selSub {
		// Subscribed names, and the superiors that RECURSIVEMATCH or an
		// LSUB "%" may answer for them.
		for n := range subs {
			entries = append(entries, listEntry{name: n, folder: byName[n]})
		}
		for n := range subBelow {
			if !subs[n] {
				entries = append(entries, listEntry{name: n, folder: byName[n]})
			}
		}
		slices.SortFunc(entries, func(a, b listEntry) int { return strings.Compare(a.name, b.name) })
	} else {
		for i := range folders {
			entries = append(entries, listEntry{name: mailboxName(folders[i].Path), folder: &folders[i]})
		}
	}
	for _, en := range entries {
		name, f := en.name, en.folder
		if !matchAny(name, ref, patterns) {
			continue
		}
		data := &imap.ListData{Delim: delim, Mailbox: name}
		sub := subs[name]
		if selSub && !sub {
			// A superior of subscribed names, answered only when a
			// subscribed name under it matches no pattern ("%" stops at
			// it): RECURSIVEMATCH with CHILDINFO (RFC 5258 3.5 and the
			// \NonExistent rule of 3.4), LSUB flagged \Noselect (RFC 3501
			// 6.3.9).
			if !(w.lsub || options.SelectRecursiveMatch) || !hiddenBelow(name, subs, ref, patterns) {
				continue
			}
			if w.lsub {
				data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
				if err := w.WriteList(data); err != nil {
					return err
				}
				continue
			}
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		if options.SelectSpecialUse && (f == nil || specialUseAttr(f.SpecialUse) == "") {
			continue
		}
		if f == nil {
			if w.lsub {
				data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
			} else {
				data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
			}
		}
		if f != nil || options.ReturnChildren {
			if children[name] {
				data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
			} else {
				data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
			}
		}
		if sub && !w.lsub && (options.ReturnSubscribed || options.SelectSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if f != nil {
			if su := specialUseAttr(f.SpecialUse); su != "" {
				data.Attrs = append(data.Attrs, su)
			}
		}
		if sub && options.SelectSubscribed && options.SelectRecursiveMatch && subBelow[name] {
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		if options.ReturnStatus != nil && f != nil {
			data.Status = s.statusData(*f, options.ReturnStatus)
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return s.listSources(w, ref, patterns, options)
}

// hiddenBelow reports whether a subscribed name under name matches no
// pattern (a "%" stops at name), which makes LSUB answer name itself.
func hiddenBelow(name string, subs map[string]bool, ref string, patterns []string) bool {
	prefix := name + string(delim)
	for n := range subs {
		if strings.HasPrefix(n, prefix) && !matchAny(n, ref, patterns) {
			return true
		}
	}
	return false
}
