package restore

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// replayState turns a repository's records, redo records and SmartScan
// corrections in the order the catalog applies them, into redo events for a
// rebuilt server, so that after every record the rebuilt server holds what
// the backup catalog holds at that point.
//
// Redo records alone do not give that state. The scanner leaves out the
// mailbox records of accounts whose class of service has backup off, and
// the catalog drops such an account's folders and items when it is
// excluded; when backup is turned on again, a SmartScan writes what the
// account then holds as corrections ("the engine has this item in this
// folder with these flags"), and later records refer to folders and items
// that only those corrections created. A SmartScan also levels the catalog
// after the scanner lost part of the log. Corrections are absolute, so they
// become whichever events make the rebuilt state match: a folder created,
// renamed or deleted, an item added (with its original id, UID, flags and
// internal date), moved, flagged or expunged.
//
// The state kept here is the catalog's view of every account (the rebuilt
// engine's, since both follow the same events): folders, and items with
// their location, flags and digest. A redo record that refers to what the
// catalog does not hold (as a catalog ignores a change to an item it does
// not know) is trimmed to what it can apply, and one that targets a folder
// the catalog lacks gets a placeholder folder first, renamed into place by
// the correction that names it. It costs memory in proportion to the items
// of the repository (about 200 bytes each).
type replayState struct {
	cos      map[string]event.COS
	domains  map[string]bool
	accounts map[uint64]*rsAccount
	out      []event.Event // events produced for the current record
}

type rsAccount struct {
	a        event.Account
	excluded bool // in a class of service without backup: the catalog holds no mail of it
	folders  map[uint64]*rsFolder
	items    map[uint64]*rsItem
	// dropped holds the items the catalog dropped when the account was
	// excluded: a copy made after backup came back may name one.
	dropped map[uint64]*rsItem
	// subs is the account's list of subscribed names (without the
	// folders' own flags).
	subs map[string]bool
}

type rsFolder struct {
	parent      uint64
	name        string
	specialUse  string
	uidValidity uint32
	subscribed  bool
	uids        map[uint32]uint64 // UID -> item
}

type rsItem struct {
	folder uint64
	uid    uint32
	flags  []string
	date   int64
	digest event.Digest
	size   int64
	typ    event.ItemType
}

func newReplayState() *replayState {
	return &replayState{cos: map[string]event.COS{}, domains: map[string]bool{}, accounts: map[uint64]*rsAccount{}}
}

// emit queues an event for the rebuilt log and applies it to the state.
func (s *replayState) emit(ev event.Event) { s.out = append(s.out, ev) }

// take returns the events queued for the current record.
func (s *replayState) take() []event.Event {
	out := s.out
	s.out = nil
	return out
}

func (s *replayState) cosBackup(name string) bool {
	if name == "" {
		return true
	}
	c, ok := s.cos[name]
	return !ok || c.Backup
}

// included returns the account when the catalog keeps its mail.
func (s *replayState) included(id uint64) *rsAccount {
	if a := s.accounts[id]; a != nil && !a.excluded {
		return a
	}
	return nil
}

// redo handles one redo event. It returns keep = true when the record goes
// into the rebuilt log unchanged, followed by take(); otherwise take()
// replaces it.
func (s *replayState) redo(ev event.Event) (keep bool) {
	switch e := ev.(type) {
	case event.DomainCreated:
		s.domains[e.Name] = true
	case event.DomainModified:
		s.domains[e.Name] = true
	case event.DomainDeleted:
		delete(s.domains, e.Name)
	case event.COSCreated:
		s.setCOS(e.COS)
	case event.COSModified:
		s.setCOS(e.COS)
	case event.COSDeleted:
		delete(s.cos, e.Name)
	case event.AccountCreated:
		return s.accountCreated(e)
	case event.AccountModified:
		return s.modifyAccount(e.Account.ID, func(a *event.Account) {
			id, addr, aliases, hash, created := a.ID, a.Address, a.Aliases, a.PasswordHash, a.Created
			*a = e.Account
			a.ID, a.Address, a.Aliases, a.PasswordHash, a.Created = id, addr, aliases, hash, created
		})
	case event.AccountRenamed:
		return s.modifyAccount(e.Account, func(a *event.Account) { a.Address = e.NewAddress })
	case event.PasswordSet:
		return s.modifyAccount(e.Account, func(a *event.Account) { a.PasswordHash = e.Hash })
	case event.AliasAdded:
		return s.modifyAccount(e.Account, func(a *event.Account) { a.Aliases = append(a.Aliases, e.Alias) })
	case event.AliasRemoved:
		return s.modifyAccount(e.Account, func(a *event.Account) {
			a.Aliases = slices.DeleteFunc(slices.Clone(a.Aliases), func(x string) bool { return x == e.Alias })
		})
	case event.AccountDeleted:
		if s.accounts[e.Account] == nil {
			return false
		}
		delete(s.accounts, e.Account)
	case event.FolderCreated:
		a := s.included(e.Account)
		if a == nil || e.Folder == 0 {
			return false
		}
		if a.folders[e.Folder] != nil || (e.Parent != 0 && a.folders[e.Parent] == nil) {
			s.setFolder(a, e.Folder, rsFolder{parent: e.Parent, name: e.Name, specialUse: e.SpecialUse,
				uidValidity: e.UIDValidity, subscribed: e.Subscribed})
			return false
		}
		s.addFolder(a, e)
	case event.FolderRenamed:
		a := s.included(e.Account)
		if a == nil || a.folders[e.Folder] == nil {
			return false
		}
		f := a.folders[e.Folder]
		want := *f
		want.parent, want.name = e.NewParent, e.NewName
		if e.NewUIDValidity != 0 {
			want.uidValidity = e.NewUIDValidity
		}
		if e.NewParent != 0 && a.folders[e.NewParent] == nil {
			s.setFolder(a, e.Folder, want)
			return false
		}
		f.parent, f.name, f.uidValidity = want.parent, want.name, want.uidValidity
	case event.FolderSubscribed:
		a := s.included(e.Account)
		if a == nil || a.folders[e.Folder] == nil {
			return false
		}
		a.folders[e.Folder].subscribed = e.Subscribed
	case event.SubscriptionsChanged:
		// The subscribed names pass as they are; the folder flags the
		// change clears are cleared here too, so corrections compare
		// against what the rebuilt server holds.
		a := s.included(e.Account)
		if a == nil {
			return false
		}
		for _, id := range e.Folders {
			if f := a.folders[id]; f != nil {
				f.subscribed = false
			}
		}
		if a.subs == nil {
			a.subs = map[string]bool{}
		}
		for _, n := range e.Names {
			if e.Subscribed {
				a.subs[n] = true
			} else {
				delete(a.subs, n)
			}
		}
	case event.FolderDeleted:
		a := s.included(e.Account)
		if a == nil || a.folders[e.Folder] == nil {
			return false
		}
		s.forgetFolder(a, e.Folder)
	case event.MessageAdded:
		return s.messageAdded(e)
	case event.FlagsChanged:
		a := s.included(e.Account)
		if a == nil {
			return false
		}
		keep = true
		for _, c := range e.Changes {
			it := a.items[c.Item]
			if it == nil || it.folder != e.Folder {
				keep = false
			}
		}
		if keep {
			for _, c := range e.Changes {
				a.items[c.Item].flags = c.Flags
			}
			return true
		}
		for _, c := range e.Changes {
			if a.items[c.Item] != nil {
				s.setFlags(a, c.Item, c.Flags)
			}
		}
		return false
	case event.ItemsCopied:
		return s.itemsCopied(e)
	case event.ItemsMoved:
		return s.itemsMoved(e)
	case event.ItemsExpunged:
		a := s.included(e.Account)
		if a == nil {
			return false
		}
		keep = true
		for _, id := range e.Items {
			if it := a.items[id]; it == nil || it.folder != e.Folder {
				keep = false
			}
		}
		if keep {
			for _, id := range e.Items {
				s.forgetItem(a, id)
			}
			return true
		}
		s.expunge(a, e.Items)
		return false
	}
	return true
}

// setCOS records a class of service; a change of its backup setting
// excludes or includes its accounts as the catalog does.
func (s *replayState) setCOS(c event.COS) {
	old, had := s.cos[c.Name]
	s.cos[c.Name] = c
	if !had || old.Backup == c.Backup {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(s.accounts)) {
		if a := s.accounts[id]; a.a.COS == c.Name {
			s.reclassify(a)
		}
	}
}

// reclassify follows an account's backup eligibility: excluded, the catalog
// drops its folders and items, and so does the rebuilt server.
func (s *replayState) reclassify(a *rsAccount) {
	ex := !s.cosBackup(a.a.COS)
	if ex && !a.excluded {
		s.dropContents(a)
	}
	a.excluded = ex
}

func (s *replayState) accountCreated(e event.AccountCreated) bool {
	a := &rsAccount{a: e.Account, excluded: !s.cosBackup(e.Account.COS), folders: map[uint64]*rsFolder{},
		items: map[uint64]*rsItem{}, dropped: map[uint64]*rsItem{}}
	s.accounts[e.Account.ID] = a
	if !a.excluded {
		for _, f := range e.Folders {
			s.addFolder(a, f)
		}
		return true
	}
	// An account created without backup: the catalog holds no folder of
	// it. The rebuilt account gets its INBOX alone, so it can log in and
	// receive mail; what else it had comes with the SmartScan that follows
	// backup being turned on.
	out := e
	out.Folders = nil
	for _, f := range e.Folders {
		if isInbox(f.Parent, f.Name) {
			out.Folders = append(out.Folders, f)
			s.addFolder(a, f)
		}
	}
	if len(out.Folders) == len(e.Folders) {
		return true
	}
	s.emit(out)
	return false
}

func (s *replayState) modifyAccount(id uint64, fn func(*event.Account)) bool {
	a := s.accounts[id]
	if a == nil {
		return false
	}
	fn(&a.a)
	s.reclassify(a)
	return true
}

func isInbox(parent uint64, name string) bool { return parent == 0 && name == engine.InboxName }

// dropContents empties an account that leaves backup: every item goes, and
// every folder but INBOX (the account stays usable).
func (s *replayState) dropContents(a *rsAccount) {
	var ids []uint64
	for id := range a.items {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	dropped := map[uint64]*rsItem{}
	for _, id := range ids {
		dropped[id] = a.items[id]
	}
	s.expunge(a, ids)
	maps.Copy(a.dropped, dropped)
	var folders []uint64
	for id, f := range a.folders {
		if !isInbox(f.parent, f.name) {
			folders = append(folders, id)
		}
	}
	sort.Slice(folders, func(i, j int) bool { return folders[i] > folders[j] })
	for _, id := range folders {
		s.emit(event.FolderDeleted{Account: a.a.ID, Folder: id})
		s.forgetFolder(a, id)
	}
}

// scan handles one SmartScan correction (a *repository.Scan… value) and
// queues the events that make the rebuilt state match it.
func (s *replayState) scan(v any) {
	switch c := v.(type) {
	case *repository.ScanCOS:
		old, had := s.cos[c.COS.Name]
		switch {
		case c.Deleted:
			if had {
				s.emit(event.COSDeleted{Name: c.COS.Name})
				delete(s.cos, c.COS.Name)
			}
		case !had:
			s.emit(event.COSCreated{COS: c.COS})
			s.cos[c.COS.Name] = c.COS
		case !cosEqual(old, c.COS):
			s.emit(event.COSModified{COS: c.COS})
			s.cos[c.COS.Name] = c.COS
		}
	case *repository.ScanAccount:
		s.scanAccount(c)
	case *repository.ScanFolder:
		a := s.accounts[c.Account]
		if a == nil {
			return
		}
		if c.Deleted {
			if a.folders[c.Folder] != nil {
				s.emit(event.FolderDeleted{Account: a.a.ID, Folder: c.Folder, Items: a.itemsIn(c.Folder)})
				s.forgetFolder(a, c.Folder)
			}
			return
		}
		s.setFolder(a, c.Folder, rsFolder{parent: c.Parent, name: c.Name, specialUse: c.SpecialUse,
			uidValidity: c.UIDValidity, subscribed: c.Subscribed})
	case *repository.ScanSubscriptions:
		a := s.accounts[c.Account]
		if a == nil {
			return
		}
		want := map[string]bool{}
		for _, n := range c.Names {
			want[n] = true
		}
		var add, drop []string
		for n := range want {
			if !a.subs[n] {
				add = append(add, n)
			}
		}
		for n := range a.subs {
			if !want[n] {
				drop = append(drop, n)
			}
		}
		sort.Strings(add)
		sort.Strings(drop)
		if len(add) > 0 {
			s.emit(event.SubscriptionsChanged{Account: c.Account, Names: add, Subscribed: true})
		}
		if len(drop) > 0 {
			s.emit(event.SubscriptionsChanged{Account: c.Account, Names: drop})
		}
		a.subs = want
	case *repository.ScanItem:
		a := s.accounts[c.Account]
		if a == nil {
			return
		}
		if c.Deleted {
			if a.items[c.Item] != nil {
				s.expunge(a, []uint64{c.Item})
			}
			return
		}
		s.setItem(a, c.Item, rsItem{folder: c.Folder, uid: c.UID, flags: c.Flags, date: c.InternalDate,
			digest: c.Digest, size: c.Size, typ: c.Type})
	}
}

func cosEqual(a, b event.COS) bool {
	return a.Name == b.Name && a.DefaultQuota == b.DefaultQuota && a.Backup == b.Backup && maps.Equal(a.Attrs, b.Attrs)
}

func (s *replayState) scanAccount(c *repository.ScanAccount) {
	a := s.accounts[c.Account.ID]
	want := c.Account
	if c.Deleted {
		if a != nil {
			s.emit(event.AccountDeleted{Account: want.ID, Address: a.a.Address})
			delete(s.accounts, want.ID)
		}
		return
	}
	if a == nil {
		// An account the log does not hold (created in a stretch of the
		// log the scanner lost): create it, folders follow.
		for _, addr := range append([]string{want.Address}, want.Aliases...) {
			if d := domainOf(addr); d != "" && !s.domains[d] {
				s.emit(event.DomainCreated{Name: d})
				s.domains[d] = true
			}
		}
		s.emit(event.AccountCreated{Account: want})
		s.accounts[want.ID] = &rsAccount{a: want, excluded: c.Excluded, folders: map[uint64]*rsFolder{},
			items: map[uint64]*rsItem{}, dropped: map[uint64]*rsItem{}}
		return
	}
	if want.Address != a.a.Address && want.Address != "" {
		s.emit(event.AccountRenamed{Account: want.ID, NewAddress: want.Address})
		a.a.Address = want.Address
	}
	for _, al := range a.a.Aliases {
		if !slices.Contains(want.Aliases, al) {
			s.emit(event.AliasRemoved{Account: want.ID, Alias: al})
		}
	}
	for _, al := range want.Aliases {
		if !slices.Contains(a.a.Aliases, al) {
			s.emit(event.AliasAdded{Account: want.ID, Alias: al})
		}
	}
	a.a.Aliases = slices.Clone(want.Aliases)
	if want.PasswordHash != "" && want.PasswordHash != a.a.PasswordHash {
		s.emit(event.PasswordSet{Account: want.ID, Hash: want.PasswordHash})
		a.a.PasswordHash = want.PasswordHash
	}
	if want.Status != a.a.Status || want.Quota != a.a.Quota || want.COS != a.a.COS || want.HideInGAL != a.a.HideInGAL ||
		!maps.Equal(want.Attrs, a.a.Attrs) {
		m := a.a
		m.Status, m.Quota, m.COS, m.HideInGAL, m.Attrs = want.Status, want.Quota, want.COS, want.HideInGAL, want.Attrs
		s.emit(event.AccountModified{Account: m})
		a.a = m
	}
	if c.Excluded && !a.excluded {
		s.dropContents(a)
	}
	a.excluded = c.Excluded
}

// addFolder records a folder the rebuilt log creates.
func (s *replayState) addFolder(a *rsAccount, e event.FolderCreated) {
	a.folders[e.Folder] = &rsFolder{parent: e.Parent, name: e.Name, specialUse: e.SpecialUse,
		uidValidity: e.UIDValidity, subscribed: e.Subscribed, uids: map[uint32]uint64{}}
}

// forgetFolder removes a folder and the items in it (as the engine's
// FolderDeleted does).
func (s *replayState) forgetFolder(a *rsAccount, id uint64) {
	f := a.folders[id]
	if f == nil {
		return
	}
	for _, item := range f.uids {
		delete(a.items, item)
	}
	delete(a.folders, id)
}

func (a *rsAccount) itemsIn(folder uint64) []uint64 {
	f := a.folders[folder]
	if f == nil {
		return nil
	}
	ids := slices.Collect(maps.Values(f.uids))
	slices.Sort(ids)
	return ids
}

// ensureFolder makes sure folder id exists, creating a placeholder at the
// top level when the state has none (a folder the log refers to before the
// correction that creates it): the correction renames it into place. It
// reports false for id 0, which names no folder (a damaged record).
func (s *replayState) ensureFolder(a *rsAccount, id uint64) bool {
	if id == 0 {
		return false
	}
	if a.folders[id] != nil {
		return true
	}
	name := fmt.Sprintf("Recovered folder %d", id)
	for n := 2; s.pathTaken(a, 0, name, id); n++ {
		name = fmt.Sprintf("Recovered folder %d (%d)", id, n)
	}
	ev := event.FolderCreated{Account: a.a.ID, Folder: id, Name: name, UIDValidity: 1}
	s.emit(ev)
	s.addFolder(a, ev)
	return true
}

// within reports whether folder id is folder anc or lies beneath it.
func (a *rsAccount) within(id, anc uint64) bool {
	for n := 0; id != 0 && n <= len(a.folders); n++ {
		if id == anc {
			return true
		}
		f := a.folders[id]
		if f == nil {
			return false
		}
		id = f.parent
	}
	return id != 0 // a loop of parents: treat as inside
}

// pathTaken reports whether another folder than self has name under parent.
func (s *replayState) pathTaken(a *rsAccount, parent uint64, name string, self uint64) bool {
	for id, f := range a.folders {
		if id != self && f.parent == parent && f.name == name {
			return true
		}
	}
	return false
}

// setFolder makes folder id what want says: created, renamed (moved),
// given its UIDVALIDITY and subscription.
func (s *replayState) setFolder(a *rsAccount, id uint64, want rsFolder) {
	if id == 0 || a.within(want.parent, id) {
		return // a folder cannot hold itself: a damaged correction
	}
	if want.parent != 0 {
		s.ensureFolder(a, want.parent)
	}
	f := a.folders[id]
	if f == nil {
		ev := event.FolderCreated{Account: a.a.ID, Folder: id, Parent: want.parent, Name: want.name,
			SpecialUse: want.specialUse, UIDValidity: want.uidValidity, Subscribed: want.subscribed}
		s.emit(ev)
		s.addFolder(a, ev)
		return
	}
	if f.parent != want.parent || f.name != want.name || f.uidValidity != want.uidValidity {
		ev := event.FolderRenamed{Account: a.a.ID, Folder: id, NewParent: want.parent, NewName: want.name}
		if f.uidValidity != want.uidValidity {
			ev.NewUIDValidity = want.uidValidity
		}
		s.emit(ev)
		f.parent, f.name, f.uidValidity = want.parent, want.name, want.uidValidity
	}
	if f.subscribed != want.subscribed {
		s.emit(event.FolderSubscribed{Account: a.a.ID, Folder: id, Subscribed: want.subscribed})
		f.subscribed = want.subscribed
	}
	if f.specialUse != want.specialUse {
		s.recreateFolder(a, id, want)
	}
}

// recreateFolder gives a folder another special use, which no event
// changes (it differs only for a placeholder made before the correction
// that names the folder): the folder, now where want says, is deleted and
// created again with the same id, and its items are added back with their
// ids and UIDs. Its subfolders keep their paths.
func (s *replayState) recreateFolder(a *rsAccount, id uint64, want rsFolder) {
	f := a.folders[id]
	ids := a.itemsIn(id)
	items := make([]rsItem, len(ids))
	for i, item := range ids {
		items[i] = *a.items[item]
	}
	s.emit(event.FolderDeleted{Account: a.a.ID, Folder: id, Items: ids})
	s.forgetFolder(a, id)
	ev := event.FolderCreated{Account: a.a.ID, Folder: id, Parent: want.parent, Name: want.name,
		SpecialUse: want.specialUse, UIDValidity: f.uidValidity, Subscribed: f.subscribed}
	s.emit(ev)
	s.addFolder(a, ev)
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return items[order[i]].uid < items[order[j]].uid })
	for _, i := range order {
		s.addItem(a, ids[i], items[i])
	}
}

// clearUID makes room for item id at (folder, uid): a different item the
// state holds at that UID is one the source server no longer had (it never
// gives a UID twice), and is expunged.
func (s *replayState) clearUID(a *rsAccount, folder uint64, uid uint32, id uint64) {
	if other, ok := a.folders[folder].uids[uid]; ok && other != id {
		s.expunge(a, []uint64{other})
	}
}

func (s *replayState) putItem(a *rsAccount, id uint64, it *rsItem) {
	a.items[id] = it
	a.folders[it.folder].uids[it.uid] = id
	delete(a.dropped, id)
}

func (s *replayState) forgetItem(a *rsAccount, id uint64) {
	it := a.items[id]
	if it == nil {
		return
	}
	if f := a.folders[it.folder]; f != nil && f.uids[it.uid] == id {
		delete(f.uids, it.uid)
	}
	delete(a.items, id)
}

// addItem emits a MessageAdded of one item with its original id and UID.
func (s *replayState) addItem(a *rsAccount, id uint64, it rsItem) {
	if !s.ensureFolder(a, it.folder) {
		return
	}
	if a.items[id] != nil {
		s.expunge(a, []uint64{id})
	}
	s.clearUID(a, it.folder, it.uid, id)
	typ := it.typ
	if typ == 0 {
		typ = event.ItemMessage
	}
	s.emit(event.MessageAdded{Digest: it.digest, Size: it.size, Reason: event.AddRestored, ItemType: typ,
		Targets: []event.Target{{Account: a.a.ID, Folder: it.folder, Item: id, UID: it.uid,
			Flags: slices.Clone(it.flags), InternalDate: it.date}}})
	it.flags = slices.Clone(it.flags)
	s.putItem(a, id, &it)
}

// expunge emits the expunge of items the state holds, one event per folder.
func (s *replayState) expunge(a *rsAccount, ids []uint64) {
	byFolder := map[uint64][]uint64{}
	var order []uint64
	for _, id := range ids {
		it := a.items[id]
		if it == nil {
			continue
		}
		if _, ok := byFolder[it.folder]; !ok {
			order = append(order, it.folder)
		}
		byFolder[it.folder] = append(byFolder[it.folder], id)
	}
	for _, f := range order {
		s.emit(event.ItemsExpunged{Account: a.a.ID, Folder: f, Items: byFolder[f]})
		for _, id := range byFolder[f] {
			s.forgetItem(a, id)
		}
	}
}

// setFlags emits a FlagsChanged of one item the state holds.
func (s *replayState) setFlags(a *rsAccount, id uint64, flags []string) {
	it := a.items[id]
	s.emit(event.FlagsChanged{Account: a.a.ID, Folder: it.folder, Changes: []event.FlagChange{{Item: id, Flags: slices.Clone(flags)}}})
	it.flags = slices.Clone(flags)
}

// moveItem emits an ItemsMoved of one item the state holds.
func (s *replayState) moveItem(a *rsAccount, id, folder uint64, uid uint32) {
	if !s.ensureFolder(a, folder) {
		return
	}
	s.clearUID(a, folder, uid, id)
	it := a.items[id]
	s.emit(event.ItemsMoved{Account: a.a.ID, From: it.folder, To: folder, Pairs: []event.MovePair{{Item: id, UID: uid}}})
	s.forgetItem(a, id)
	it.folder, it.uid = folder, uid
	s.putItem(a, id, it)
}

// setItem makes item id what want says.
func (s *replayState) setItem(a *rsAccount, id uint64, want rsItem) {
	it := a.items[id]
	if it == nil || it.digest != want.digest || it.date != want.date {
		s.addItem(a, id, want)
		return
	}
	if it.folder != want.folder || it.uid != want.uid {
		s.moveItem(a, id, want.folder, want.uid)
	}
	if !sameFlags(it.flags, want.flags) {
		s.setFlags(a, id, want.flags)
	}
}

func (s *replayState) messageAdded(e event.MessageAdded) bool {
	keep := true
	var targets []event.Target
	for _, t := range e.Targets {
		a := s.included(t.Account)
		if a == nil || t.Folder == 0 {
			keep = false
			continue
		}
		if a.folders[t.Folder] == nil || a.items[t.Item] != nil {
			keep = false
		} else if _, taken := a.folders[t.Folder].uids[t.UID]; taken {
			keep = false
		}
		targets = append(targets, t)
	}
	if keep {
		for _, t := range targets {
			s.putItem(s.accounts[t.Account], t.Item, &rsItem{folder: t.Folder, uid: t.UID, flags: t.Flags,
				date: t.InternalDate, digest: e.Digest, size: e.Size, typ: e.ItemType})
		}
		return true
	}
	// Make room for each target, then add the ones left in one record.
	for _, t := range targets {
		a := s.accounts[t.Account]
		s.ensureFolder(a, t.Folder)
		if a.items[t.Item] != nil {
			s.expunge(a, []uint64{t.Item})
		}
		s.clearUID(a, t.Folder, t.UID, t.Item)
	}
	if len(targets) > 0 {
		out := e
		out.Targets = targets
		s.emit(out)
		for _, t := range targets {
			s.putItem(s.accounts[t.Account], t.Item, &rsItem{folder: t.Folder, uid: t.UID, flags: t.Flags,
				date: t.InternalDate, digest: e.Digest, size: e.Size, typ: e.ItemType})
		}
	}
	return false
}

func (s *replayState) itemsCopied(e event.ItemsCopied) bool {
	a := s.included(e.Account)
	if a == nil {
		return false
	}
	keep := a.folders[e.To] != nil
	for _, p := range e.Pairs {
		if a.items[p.From] == nil || a.items[p.To] != nil {
			keep = false
		} else if _, taken := a.folders[e.To].uids[p.UID]; keep && taken {
			keep = false
		}
	}
	if keep {
		for _, p := range e.Pairs {
			src := a.items[p.From]
			cp := *src
			cp.folder, cp.uid, cp.flags = e.To, p.UID, slices.Clone(src.flags)
			s.putItem(a, p.To, &cp)
		}
		return true
	}
	// A copy of an item the catalog dropped (the account was excluded)
	// is added from what the catalog last held of it; one of an item it
	// never held is left out, as the catalog does.
	for _, p := range e.Pairs {
		src := a.items[p.From]
		if src == nil {
			src = a.dropped[p.From]
		}
		if src == nil {
			continue
		}
		cp := *src
		cp.folder, cp.uid = e.To, p.UID
		s.addItem(a, p.To, cp)
	}
	return false
}

func (s *replayState) itemsMoved(e event.ItemsMoved) bool {
	a := s.included(e.Account)
	if a == nil {
		return false
	}
	keep := a.folders[e.To] != nil && a.folders[e.From] != nil
	if keep {
		moving := map[uint64]bool{}
		for _, p := range e.Pairs {
			moving[p.Item] = true
		}
		for _, p := range e.Pairs {
			it := a.items[p.Item]
			if it == nil || it.folder != e.From {
				keep = false
				break
			}
			if other, taken := a.folders[e.To].uids[p.UID]; taken && !moving[other] {
				keep = false
				break
			}
		}
	}
	if keep {
		its := make([]*rsItem, len(e.Pairs))
		for i, p := range e.Pairs {
			its[i] = a.items[p.Item]
			s.forgetItem(a, p.Item)
		}
		for i, p := range e.Pairs {
			its[i].folder, its[i].uid = e.To, p.UID
			s.putItem(a, p.Item, its[i])
		}
		return true
	}
	for _, p := range e.Pairs {
		if a.items[p.Item] != nil {
			s.moveItem(a, p.Item, e.To, p.UID)
		}
	}
	return false
}
