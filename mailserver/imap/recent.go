package imap

import (
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// recentTracker gives IMAP4rev1's \Recent its meaning (RFC 3501 section
// 2.3.2): a message is recent in exactly one session, the first to be told
// of it. Per folder it keeps the highest UID some session has claimed;
// selecting a folder (not EXAMINE, which only looks) or hearing of new
// messages in it claims everything above.
//
// The mark lives in memory. It starts, per account, at the first login
// after the server started, at each folder's last UID: messages that came
// before are not recent, everything delivered, appended, copied or moved in
// after is. A restart therefore forgets which of the messages then unseen
// by any session were recent; it never makes old mail recent.
type recentTracker struct {
	mu   sync.Mutex
	mark map[recentKey]uint32
	seen map[uint64]bool // accounts whose folders were marked
}

type recentKey struct{ acct, folder uint64 }

func newRecentTracker() *recentTracker {
	return &recentTracker{mark: make(map[recentKey]uint32), seen: make(map[uint64]bool)}
}

// started reports whether the account's marks are set, so a login lists
// the folders only the first time.
func (r *recentTracker) started(acct uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[acct]
}

// start sets the marks of an account's folders at its first login.
func (r *recentTracker) start(acct uint64, folders []engine.Folder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[acct] {
		return
	}
	r.seen[acct] = true
	for _, f := range folders {
		k := recentKey{acct, f.ID}
		if _, ok := r.mark[k]; !ok && f.UIDNext > 0 {
			r.mark[k] = f.UIDNext - 1
		}
	}
}

// claim returns the mark of a folder and, unless peek, raises it to upTo:
// the messages above the returned mark (up to upTo) are recent in the
// caller's session. A folder created after the account's first login
// starts at 0: all its messages arrived since.
func (r *recentTracker) claim(acct, folder uint64, upTo uint32, peek bool) uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := recentKey{acct, folder}
	m := r.mark[k]
	if !peek && upTo > m {
		r.mark[k] = upTo
	}
	return m
}

// markRecent claims the messages of the view from index from on and flags
// those that are recent in this session; it returns how many are.
func (s *session) markRecent(from int) {
	v := s.sel
	if from >= len(v.msgs) {
		return
	}
	mark := s.srv.recent.claim(s.acct, v.folder.ID, v.maxUID(), v.readOnly)
	for i := from; i < len(v.msgs); i++ {
		if v.msgs[i].uid > mark {
			v.msgs[i].recent = true
		}
	}
}

// numRecent counts the view's recent messages.
func (v *selected) numRecent() uint32 {
	var n uint32
	for i := range v.msgs {
		if v.msgs[i].recent {
			n++
		}
	}
	return n
}

// wireStrings is wireFlags as strings, for SEARCH RECENT/NEW/OLD.
func wireStrings(m *message) []string {
	if !m.recent {
		return m.flags
	}
	return append(append([]string(nil), m.flags...), `\Recent`)
}

// wireFlags is a message's FLAGS as this session reports them: the stored
// flags, and \Recent when the message is recent here.
func wireFlags(m *message) []imap.Flag {
	f := toIMAPFlags(m.flags)
	if m.recent {
		f = append(f, imap.Flag(`\Recent`))
	}
	return f
}

// statusRecent answers STATUS (RECENT): the messages above the folder's
// mark, which the next session to select it would see as recent. STATUS
// claims nothing.
func (s *session) statusRecent(f engine.Folder) uint32 {
	if s.sel != nil && s.sel.folder.ID == f.ID {
		return s.sel.numRecent()
	}
	mark := s.srv.recent.claim(s.acct, f.ID, 0, true)
	if f.UIDNext == 0 || f.UIDNext-1 <= mark {
		return 0
	}
	items, err := s.srv.b.ListItems(s.ctx, s.acct, f.ID)
	if err != nil {
		return 0
	}
	var n uint32
	for _, it := range items {
		if it.UID > mark {
			n++
		}
	}
	return n
}
