package imap

import (
	"errors"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// message is one entry of a session's view: sequence number = index+1.
type message struct {
	id     uint64
	digest [32]byte // of its bytes: the header cache's key
	uid    uint32
	flags  []string
	date   time.Time
	size   int64
	modseq uint64
	recent bool // \Recent in this session (recent.go)
}

func newMessage(it engine.Item) message {
	flags := make([]string, len(it.Flags))
	for i, f := range it.Flags {
		flags[i] = canonFlag(f)
	}
	return message{id: it.ID, digest: it.Digest, uid: it.UID, flags: flags, date: it.InternalDate, size: it.Size, modseq: it.ModSeq}
}

// selected is the session's view of its selected folder: the messages the
// client knows, in sequence order, and the FLAGS it has been told. It
// changes only when the session tells the client (EXPUNGE, EXISTS, FETCH
// FLAGS), so sequence numbers stay consistent however other sessions race.
type selected struct {
	src      Source
	folder   engine.Folder
	readOnly bool
	msgs     []message
	flags    *flagSet
	synced   uint64 // session.gen at the last complete sync
	// modseq is a HIGHESTMODSEQ of the folder the view has caught up
	// with: the next sync asks a changesSource what changed after it.
	modseq    uint64
	searchRes imap.UIDSet // SEARCHRES "$"
}

func (v *selected) maxUID() uint32 {
	if len(v.msgs) == 0 {
		return 0
	}
	return v.msgs[len(v.msgs)-1].uid
}

func (v *selected) indexOfUID(uid uint32) int {
	lo, hi := 0, len(v.msgs)
	for lo < hi {
		m := (lo + hi) / 2
		if v.msgs[m].uid < uid {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(v.msgs) && v.msgs[lo].uid == uid {
		return lo
	}
	return -1
}

// remove drops the message at index i (after its EXPUNGE was written).
func (v *selected) remove(i int) {
	v.msgs = append(v.msgs[:i], v.msgs[i+1:]...)
}

func (s *session) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	defer s.busy()()
	s.unselect()
	prev := s.last
	s.last = nil
	src, err := s.route(mailbox)
	if err != nil {
		return nil, translate(s.srv.log, "select", err)
	}
	f, err := src.Folder(s.ctx, mailbox)
	if err != nil {
		return nil, translate(s.srv.log, "select", err)
	}
	// Watch before listing, so no change between the two is missed.
	if !src.ReadOnly() {
		s.selID.Store(f.ID)
	}
	gen := s.gen.Load()
	// f was read before the items: its HIGHESTMODSEQ is not above them.
	modseq := f.HighestModSeq
	msgs, next := s.reselect(prev, src, f)
	if msgs != nil {
		modseq = next
	} else {
		items, err := src.Items(s.ctx, f.ID)
		if err != nil {
			s.selID.Store(0)
			return nil, translate(s.srv.log, "select", err)
		}
		msgs = make([]message, len(items))
		for i, it := range items {
			msgs[i] = newMessage(it)
		}
	}
	readOnly := options.ReadOnly || src.ReadOnly()
	v := &selected{src: src, folder: f, readOnly: readOnly, flags: newFlagSet(), synced: gen, modseq: modseq}
	v.msgs = msgs
	var firstUnseen uint32
	for i := range v.msgs {
		v.flags.add(v.msgs[i].flags)
		if firstUnseen == 0 && !hasFlag(v.msgs[i].flags, imap.FlagSeen) {
			firstUnseen = uint32(i + 1)
		}
	}
	s.sel = v
	s.markRecent(0)
	uidNext := f.UIDNext
	if m := v.maxUID(); uidNext <= m {
		uidNext = m + 1
	}
	data := &imap.SelectData{
		Flags:             v.flags.flags(),
		PermanentFlags:    v.flags.permanent(),
		NumMessages:       uint32(len(v.msgs)),
		NumRecent:         v.numRecent(),
		FirstUnseenSeqNum: firstUnseen,
		UIDNext:           imap.UID(uidNext),
		UIDValidity:       f.UIDValidity,
	}
	if readOnly {
		data.PermanentFlags = nil
	}
	return data, nil
}

// reselect builds the view of folder f again from prev, the view the
// session had of the same folder, and what changed since (a SELECT of
// the folder already selected, as clients do to refresh it): the folder
// is not listed again. It returns nil when prev cannot be used (another
// folder or source, a new UIDVALIDITY, changes the index cannot name),
// else the messages and the MODSEQ they are current to.
func (s *session) reselect(prev *selected, src Source, f engine.Folder) ([]message, uint64) {
	cs, ok := src.(changesSource)
	if !ok || prev == nil || prev.folder.ID != f.ID || prev.folder.UIDValidity != f.UIDValidity || prev.src.Key() != src.Key() {
		return nil, 0
	}
	ch, err := cs.ChangesSince(s.ctx, f.ID, prev.modseq)
	if err != nil || !ch.Complete || ch.Folder.UIDValidity != f.UIDValidity {
		return nil, 0
	}
	gone := make(map[uint32]bool, len(ch.Vanished))
	for _, u := range ch.Vanished {
		gone[u] = true
	}
	msgs := make([]message, 0, len(prev.msgs)+len(ch.Changed))
	for _, m := range prev.msgs {
		if !gone[m.uid] {
			m.recent = false // claimed again below, as for a listed folder
			msgs = append(msgs, m)
		}
	}
	v := &selected{msgs: msgs}
	for _, it := range ch.Changed {
		if gone[it.UID] {
			continue
		}
		if n := len(v.msgs); n == 0 || it.UID > v.msgs[n-1].uid {
			v.msgs = append(v.msgs, newMessage(it))
			continue
		}
		i := v.indexOfUID(it.UID)
		if i < 0 || v.msgs[i].id != it.ID {
			return nil, 0 // not in UID order, or not the message the view had
		}
		v.msgs[i] = newMessage(it)
	}
	return v.msgs, ch.Folder.HighestModSeq
}

func (s *session) Unselect() error {
	defer s.busy()()
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if s.sel != nil {
		s.last = s.sel
	}
	s.sel = nil
	s.selID.Store(0)
}

// sync brings the client's view up to date with the engine: EXPUNGE for
// vanished messages (only where the protocol allows it), FLAGS for new
// keywords, EXISTS for new messages and FETCH FLAGS for changed ones. It
// does nothing unless a change was signalled since the last sync. A
// source with a change index (the live account) is asked only what
// changed since the view's MODSEQ; others, and a MODSEQ older than the
// folder's tombstones, are listed whole.
func (s *session) sync(w *conn, allowExpunge bool) error {
	v := s.sel
	if v == nil {
		return nil
	}
	gen := s.gen.Load()
	if gen == v.synced {
		return nil
	}
	var next uint64 // the view's MODSEQ after a complete full sync
	if cs, ok := v.src.(changesSource); ok {
		ch, err := cs.ChangesSince(s.ctx, v.folder.ID, v.modseq)
		if errors.Is(err, engine.ErrNotFound) {
			v.synced = gen
			return nil
		} else if err != nil {
			return translate(s.srv.log, "sync", err)
		}
		if ch.Complete {
			return s.syncChanges(w, allowExpunge, gen, ch)
		}
		next = ch.Folder.HighestModSeq // read before the listing below
	}
	items, err := v.src.Items(s.ctx, v.folder.ID)
	if errors.Is(err, engine.ErrNotFound) {
		// The folder was deleted under us; keep the view until the
		// client selects something else.
		v.synced = gen
		return nil
	} else if err != nil {
		return translate(s.srv.log, "sync", err)
	}
	byUID := make(map[uint32]*engine.Item, len(items))
	for i := range items {
		byUID[items[i].UID] = &items[i]
	}

	pending := false
	var gone []int
	for i := range v.msgs {
		if _, ok := byUID[v.msgs[i].uid]; ok {
			continue
		}
		if !allowExpunge {
			pending = true
			continue
		}
		gone = append(gone, i)
	}
	if err := s.writeExpunged(w, gone); err != nil {
		return err
	}
	if err := s.syncItems(w, items); err != nil {
		return err
	}
	if !pending {
		v.synced = gen
		v.modseq = max(v.modseq, next)
	}
	return nil
}

// syncChanges is sync from what changed since the view's MODSEQ.
func (s *session) syncChanges(w *conn, allowExpunge bool, gen uint64, ch engine.Changes) error {
	v := s.sel
	pending := false
	var gone []int // ascending, as ch.Vanished is
	for _, u := range ch.Vanished {
		i := v.indexOfUID(u)
		if i < 0 {
			continue // never in the view, or already reported
		}
		if !allowExpunge {
			pending = true
			continue
		}
		gone = append(gone, i)
	}
	if err := s.writeExpunged(w, gone); err != nil {
		return err
	}
	if err := s.syncItems(w, ch.Changed); err != nil {
		return err
	}
	if !pending {
		// Otherwise the next sync asks again from the same MODSEQ, for
		// the expunges still owed; what was applied here repeats as no
		// change.
		v.synced = gen
		v.modseq = max(v.modseq, ch.Folder.HighestModSeq)
	}
	return nil
}

// syncItems takes items as the engine has them now (in UID order: the
// whole folder, or only the changed ones) into the view:
// FLAGS for new keywords, EXISTS for new messages, FETCH FLAGS for flags
// that changed.
func (s *session) syncItems(w *conn, items []engine.Item) error {
	v := s.sel
	newKeywords := false
	for _, it := range items {
		if v.flags.add(toStrings(toIMAPFlags(it.Flags))) {
			newKeywords = true
		}
	}
	if newKeywords {
		if err := w.WriteMailboxFlags(v.flags.flags()); err != nil {
			return err
		}
	}

	var updates []int // view indexes whose flags changed
	maxUID := v.maxUID()
	var fresh []engine.Item
	for i := range items {
		it := &items[i]
		if it.UID > maxUID {
			fresh = append(fresh, *it)
			continue
		}
		j := v.indexOfUID(it.UID)
		if j < 0 || v.msgs[j].id != it.ID {
			continue
		}
		nm := newMessage(*it)
		if !sameFlags(v.msgs[j].flags, nm.flags) {
			v.msgs[j].flags = nm.flags
			updates = append(updates, j)
		}
		v.msgs[j].modseq = nm.modseq
	}
	before := len(v.msgs)
	for _, it := range fresh {
		v.msgs = append(v.msgs, newMessage(it))
	}
	if len(v.msgs) > before {
		s.markRecent(before)
		if err := w.WriteNumMessages(uint32(len(v.msgs))); err != nil {
			return err
		}
		if err := w.WriteNumRecent(v.numRecent()); err != nil {
			return err
		}
	}
	slices.Sort(updates)
	for _, j := range updates {
		if err := w.WriteMessageFlags(uint32(j+1), &v.msgs[j]); err != nil {
			return err
		}
	}
	return nil
}

func toStrings(flags []imap.Flag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = string(f)
	}
	return out
}

func sameFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !containsFold(b, f) {
			return false
		}
	}
	return true
}

// at names the message to the engine: its item id and the UID this view
// has it at. An item keeps its id when another session moves it under a
// new UID; for this view the old UID is then an expunged message.
func (m *message) at() engine.ItemAt { return engine.ItemAt{ID: m.id, UID: m.uid} }

// itemAt is at for an item as the engine answered it.
func itemAt(it engine.Item) engine.ItemAt { return engine.ItemAt{ID: it.ID, UID: it.UID} }

// staleUIDs returns the UIDs of the view's messages that are no longer at
// that UID in the folder: expunged or moved (to another folder, or within
// this one under a new UID, RFC 6851) by another session since the view
// was last synced. The client still counts them until their EXPUNGE;
// FETCH of their contents, SEARCH, SORT and THREAD leave them out, as for
// Dovecot the old UID of a moved message is an expunged one. Only a
// changesSource can say (nil otherwise: a read of an expunged item by id
// fails, and other sources do not move items).
func (s *session) staleUIDs() (map[uint32]bool, error) {
	v := s.sel
	cs, ok := v.src.(changesSource)
	if !ok {
		return nil, nil
	}
	ch, err := cs.ChangesSince(s.ctx, v.folder.ID, v.modseq)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil // the folder went with its items: reads by id fail
	} else if err != nil {
		return nil, err
	}
	gone := make(map[uint32]bool, len(ch.Vanished))
	if ch.Complete {
		for _, u := range ch.Vanished {
			gone[u] = true
		}
		return gone, nil
	}
	// The folder's tombstones do not reach back that far: compare with
	// the folder as it is.
	items, err := v.src.Items(s.ctx, v.folder.ID)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	present := make(map[engine.ItemAt]bool, len(items))
	for _, it := range items {
		present[itemAt(it)] = true
	}
	for i := range v.msgs {
		if !present[v.msgs[i].at()] {
			gone[v.msgs[i].uid] = true
		}
	}
	return gone, nil
}

// target is a message addressed by a command, with its sequence number.
type target struct {
	seq uint32
	m   *message
}

// targetsAt names targets to the engine.
func targetsAt(targets []target) []engine.ItemAt {
	out := make([]engine.ItemAt, len(targets))
	for i, t := range targets {
		out[i] = t.m.at()
	}
	return out
}

// resolve maps a sequence or UID set (with "*" and SEARCHRES "$") onto the
// view, in sequence order. Numbers that match nothing are ignored, as
// RFC 9051 requires for UID sets.
func (s *session) resolve(numSet imap.NumSet) []target {
	v := s.sel
	if imap.IsSearchRes(numSet) {
		numSet = v.searchRes
	}
	var out []target
	switch set := numSet.(type) {
	case imap.SeqSet:
		max := uint32(len(v.msgs))
		for i := range v.msgs {
			if seqSetContains(set, uint32(i+1), max) {
				out = append(out, target{uint32(i + 1), &v.msgs[i]})
			}
		}
	case imap.UIDSet:
		max := v.maxUID()
		for i := range v.msgs {
			if uidSetContains(set, v.msgs[i].uid, max) {
				out = append(out, target{uint32(i + 1), &v.msgs[i]})
			}
		}
	}
	return out
}

// inRange reports whether n lies in start:stop where 0 stands for "*"
// (the largest number in use, max) and the bounds may come in any order.
func inRange(n, start, stop, max uint32) bool {
	if start == 0 {
		start = max
	}
	if stop == 0 {
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return n >= start && n <= stop
}

func seqSetContains(set imap.SeqSet, n, max uint32) bool {
	for _, r := range set {
		if inRange(n, r.Start, r.Stop, max) {
			return true
		}
	}
	return false
}

func uidSetContains(set imap.UIDSet, n, max uint32) bool {
	for _, r := range set {
		if inRange(n, uint32(r.Start), uint32(r.Stop), max) {
			return true
		}
	}
	return false
}

func (s *session) requireWritable() error {
	if s.sel.readOnly {
		return errReadOnlyBox
	}
	return nil
}

// announce tells the client about keywords in flags it has not seen yet,
// with an untagged FLAGS response, before a FETCH carries them.
func (s *session) announce(flags []string) error {
	v := s.sel
	if !v.flags.add(flags) {
		return nil
	}
	return s.c.WriteMailboxFlags(v.flags.flags())
}
