package engine

import "sync"

// ChangeKind says what a Change reports.
type ChangeKind int

// Change kinds.
const (
	// ChangeAdded: Items were added to Folder (delivery, append, copy, the
	// destination side of a move).
	ChangeAdded ChangeKind = iota + 1
	// ChangeFlags: Items of Folder have new flags (and MODSEQ).
	ChangeFlags
	// ChangeExpunged: Items left Folder (expunge, the source side of a move,
	// folder deletion). Items carry their old UIDs.
	ChangeExpunged
	// ChangeFolder: Folder was created, renamed, deleted or (un)subscribed.
	ChangeFolder
	// ChangeAccount: the account's provisioning changed (status, quota,
	// addresses, password) or it was deleted.
	ChangeAccount
	// ChangeOverflow: the watcher fell behind and changes were dropped;
	// resynchronise from the engine's state. No other field is set.
	ChangeOverflow
)

// Aliases for the names used in the API contract.
const (
	ChangeFlagsChanged  = ChangeFlags
	ChangeFolderChanged = ChangeFolder
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeAdded:
		return "added"
	case ChangeFlags:
		return "flags"
	case ChangeExpunged:
		return "expunged"
	case ChangeFolder:
		return "folder"
	case ChangeAccount:
		return "account"
	case ChangeOverflow:
		return "overflow"
	}
	return "unknown"
}

// Change is one applied change to an account, sent to its watchers after
// the record is durable and applied.
type Change struct {
	Account, Folder uint64
	Kind            ChangeKind
	Items           []Item
	ModSeq          uint64 // LSN of the record
}

// WatchBuffer is the capacity of a watcher's channel. Every IMAP session
// holds one, so it is kept small (32 Changes, under 2 KiB; 256 were 14
// KiB a session): a watcher drains it at once, and one that falls behind
// is told to resynchronise, which the change index makes cheap.
const WatchBuffer = 32

type watcher struct {
	ch       chan Change
	overflow bool // an overflow marker is queued; drop until drained
}

type watchers struct {
	mu sync.Mutex
	m  map[uint64]map[*watcher]struct{}
}

// Watch subscribes to the account's changes. The channel is buffered and
// never blocks the engine: a watcher that falls behind receives one
// ChangeOverflow and misses the changes after it until it has drained its
// channel, then must resynchronise from the engine's state. cancel ends the
// subscription and closes the channel; Close of the engine closes every
// channel too.
func (e *Engine) Watch(acct uint64) (ch <-chan Change, cancel func()) {
	w := &watcher{ch: make(chan Change, WatchBuffer)}
	e.watch.mu.Lock()
	if e.watch.m == nil {
		e.watch.m = map[uint64]map[*watcher]struct{}{}
	}
	set := e.watch.m[acct]
	if set == nil {
		set = map[*watcher]struct{}{}
		e.watch.m[acct] = set
	}
	set[w] = struct{}{}
	e.watch.mu.Unlock()
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			e.watch.mu.Lock()
			if set, ok := e.watch.m[acct]; ok {
				if _, ok := set[w]; ok {
					delete(set, w)
					close(w.ch)
				}
				if len(set) == 0 {
					delete(e.watch.m, acct)
				}
			}
			e.watch.mu.Unlock()
		})
	}
}

// publish delivers changes to watchers without blocking.
func (ws *watchers) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, c := range changes {
		for w := range ws.m[c.Account] {
			w.send(c)
		}
	}
}

func (w *watcher) send(c Change) {
	if w.overflow {
		if len(w.ch) > 0 {
			return // the marker is still unread: the resync will cover c
		}
		w.overflow = false
	}
	if len(w.ch) < cap(w.ch)-1 {
		w.ch <- c
		return
	}
	// Keep the last slot for the marker.
	w.ch <- Change{Kind: ChangeOverflow}
	w.overflow = true
}

// closeAll ends every subscription.
func (ws *watchers) closeAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, set := range ws.m {
		for w := range set {
			close(w.ch)
		}
	}
	ws.m = nil
}
