package imap

import (
	"container/list"
	"context"
	"errors"
	"sync"

	"github.com/tidemark/tidemark/engine"
)

// headerCacheSize bounds the memory the server spends on the headers of
// messages of sources other than the live account (the backup view),
// whose headers the engine caches itself.
const headerCacheSize = 8 << 20

// headerCache keeps the raw header of recently read messages, so FETCH of
// header fields or ENVELOPE do not read
// whole blobs every time (Dovecot's index cache plays this part). An
// item's bytes never change, so an entry never goes stale; it is only
// evicted, least recently used first.
type headerCache struct {
	mu   sync.Mutex
	max  int
	size int
	lru  *list.List // of *headerEntry, front = most recent
	m    map[headerKey]*list.Element
}

type headerKey struct {
	src  string // Source.Key
	item uint64
}

type headerEntry struct {
	key    headerKey
	header []byte
}

func newHeaderCache(max int) *headerCache {
	return &headerCache{max: max, lru: list.New(), m: make(map[headerKey]*list.Element)}
}

func (c *headerCache) get(src string, item uint64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[headerKey{src, item}]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*headerEntry).header, true
}

func (c *headerCache) put(src string, item uint64, header []byte) {
	if len(header) > c.max/16 {
		return
	}
	header = append([]byte(nil), header...)
	c.mu.Lock()
	defer c.mu.Unlock()
	k := headerKey{src, item}
	if _, ok := c.m[k]; ok {
		return
	}
	c.m[k] = c.lru.PushFront(&headerEntry{k, header})
	c.size += len(header)
	for c.size > c.max {
		e := c.lru.Back()
		he := e.Value.(*headerEntry)
		c.lru.Remove(e)
		delete(c.m, he.key)
		c.size -= len(he.header)
	}
}

// headerSource is an optional part of a Source: the header block of a
// message of the view from a cache of its own (the live account: the
// engine's header cache, which SEARCH shares, found by the message's
// digest without reading its item). Sources without it go through the
// server's headerCache.
type headerSource interface {
	ReadHeader(ctx context.Context, item uint64, digest [32]byte, size int64) ([]byte, error)
}

// header returns a message's raw header, from a cache or the blob.
func (s *session) header(m *message) ([]byte, error) {
	id := m.id
	if hs, ok := s.sel.src.(headerSource); ok {
		h, err := hs.ReadHeader(s.ctx, id, m.digest, m.size)
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return nil, translate(s.srv.log, "fetch", err)
		}
		return h, err
	}
	key := s.sel.src.Key()
	if h, ok := s.srv.headers.get(key, id); ok {
		return h, nil
	}
	raw, err := s.readBlob(id)
	if err != nil {
		return nil, err
	}
	h, _ := splitMessage(raw)
	s.srv.headers.put(key, id, h)
	return h, nil
}
