package view

import (
	"container/list"
	"sync"
)

// snapKey names one cached state of an account: its state at an instant
// (at, with lsn the catalog position when the instant was not yet behind
// it), or its Deleted folder (deleted set, at the window's start).
type snapKey struct {
	acct    uint64
	at      int64
	lsn     uint64
	deleted bool
}

// cache keeps the account snapshots most recently opened, bounded by the
// messages they hold in total. Concurrent loads of one key share one
// computation.
type cache struct {
	mu       sync.Mutex
	limit    int
	held     int
	lru      *list.List // of *cacheEntry, most recent first
	byKey    map[snapKey]*list.Element
	inflight map[snapKey]*flight
}

type cacheEntry struct {
	key  snapKey
	snap *snapshot
}

type flight struct {
	done chan struct{}
	snap *snapshot
	err  error
}

func newCache(limit int) *cache {
	return &cache{limit: limit, lru: list.New(), byKey: map[snapKey]*list.Element{}, inflight: map[snapKey]*flight{}}
}

// peek returns a cached snapshot without loading one.
func (c *cache) peek(k snapKey) (*snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cacheEntry).snap, true
	}
	return nil, false
}

// get returns the snapshot of k, calling load once for all the callers
// that ask while it runs. A failed load is not cached.
func (c *cache) get(k snapKey, load func() (*snapshot, error)) (*snapshot, error) {
	c.mu.Lock()
	if e, ok := c.byKey[k]; ok {
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*cacheEntry).snap, nil
	}
	if f, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		<-f.done
		return f.snap, f.err
	}
	f := &flight{done: make(chan struct{})}
	c.inflight[k] = f
	c.mu.Unlock()

	f.snap, f.err = load()

	c.mu.Lock()
	delete(c.inflight, k)
	if f.err == nil && f.snap.weight <= c.limit {
		c.byKey[k] = c.lru.PushFront(&cacheEntry{key: k, snap: f.snap})
		c.held += f.snap.weight
		for c.held > c.limit {
			last := c.lru.Back()
			ce := last.Value.(*cacheEntry)
			c.lru.Remove(last)
			delete(c.byKey, ce.key)
			c.held -= ce.snap.weight
		}
	}
	c.mu.Unlock()
	close(f.done)
	return f.snap, f.err
}

func (c *cache) stats() (snapshots, messages int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.held
}
