package engine

import (
	"container/list"
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// headerCache keeps the header block of recently read messages, keyed by
// blob digest, so SEARCH on header keys, SORT,
// THREAD and an IMAP FETCH of header fields or ENVELOPE do not read and
// parse each message's blob every time (Dovecot's index cache plays this
// part). A blob's bytes never change, so an entry never goes stale; it is
// only evicted, least recently used first, once the entries' size passes
// the bound (Options.HeaderCacheSize).
type headerCache struct {
	mu   sync.Mutex
	max  int
	size int
	lru  *list.List // of *headerEntry, front = most recent
	m    map[dedup.Digest]*list.Element
}

// headerEntry is one cached header: raw as stored (with the empty line
// that ends it, when there is one), shared by every reader and never
// modified. Searches match on it in place (fieldValues); it is the whole
// entry, so the cache holds as many headers as its bytes allow.
type headerEntry struct {
	d    dedup.Digest
	raw  []byte
	cost int // changed only under the cache's lock

	// texts keeps, for the few fields SEARCH HEADER asked of this header
	// while it was cached, their values decoded and lower-cased, as the
	// search compares them: a client that searches a folder again (a
	// quick filter typed letter by letter) does not decode every
	// message's Subject again. Replaced whole under the cache's lock,
	// read without it; its bytes count in cost.
	texts atomic.Pointer[map[string][]string]
}

// maxTextFields bounds the fields a header entry keeps decoded.
const maxTextFields = 4

// fieldTexts returns what headerHas compares for the fields named name
// (lower case) of he: each value decoded (RFC 2047) and lower-cased, and
// for an address field also each address it parses to, lower-cased; kept
// in he while it is cached. A search key matches when one of them
// contains it; an empty key, when there is any.
func (c *headerCache) fieldTexts(he *headerEntry, name string) []string {
	if p := he.texts.Load(); p != nil {
		if v, ok := (*p)[name]; ok {
			return v
		}
	}
	vals, add := searchTexts(he.raw, name)
	if c == nil {
		return vals
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[he.d]; !ok || el.Value.(*headerEntry) != he {
		return vals // not (or no longer) cached
	}
	old := he.texts.Load()
	m := map[string][]string{}
	if old != nil {
		if len(*old) >= maxTextFields {
			return vals
		}
		m = maps.Clone(*old)
	}
	m[name] = vals
	he.texts.Store(&m)
	he.cost += add
	c.size += add
	c.trimLocked()
	return vals
}

// searchTexts returns what a SEARCH on the header field name (lower case)
// compares in the header block h: each value decoded (RFC 2047) and
// lower-cased, and for an address field also each address it parses to,
// lower-cased; and about how many bytes they hold.
func searchTexts(h []byte, name string) ([]string, int) {
	addr := isAddressField(name)
	vals := []string{}
	size := len(name) + 48
	keep := func(v string) {
		vals = append(vals, v)
		size += len(v) + 16
	}
	fieldValues(h, name, func(value string) bool {
		keep(strings.ToLower(decodeWords(value)))
		if addr {
			for _, a := range parseAddrs(value) {
				keep(strings.ToLower(a.String()))
			}
		}
		return true
	})
	return vals, size
}

// trimLocked evicts the least recently used entries until the cache is
// within its bound, keeping at least one. Called with c.mu held.
func (c *headerCache) trimLocked() {
	for c.size > c.max && c.lru.Len() > 1 {
		e := c.lru.Back()
		old := e.Value.(*headerEntry)
		c.lru.Remove(e)
		delete(c.m, old.d)
		c.size -= old.cost
	}
}

func newHeaderCache(max int) *headerCache {
	return &headerCache{max: max, lru: list.New(), m: make(map[dedup.Digest]*list.Element)}
}

func (c *headerCache) get(d dedup.Digest) (*headerEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[d]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*headerEntry), true
}

// entryOf copies h (which may be part of a larger buffer).
func entryOf(d dedup.Digest, h []byte) *headerEntry {
	raw := append([]byte(nil), h...)
	return &headerEntry{d: d, raw: raw, cost: len(raw) + 96} // the bytes, the entry, its list and map slots
}

// put adds an entry unless the cache is off or the entry too large.
func (c *headerCache) put(he *headerEntry) {
	if c == nil || c.max <= 0 || he.cost > c.max/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[he.d]; ok {
		return
	}
	c.m[he.d] = c.lru.PushFront(he)
	c.size += he.cost
	c.trimLocked()
}

// header returns the header of the blob d of size bytes: cached, or read
// (only the first headerPeek bytes of a large message when the header
// ends there) and cached.
func (e *Engine) header(ctx context.Context, d dedup.Digest, size int64) (*headerEntry, error) {
	if he, ok := e.headers.get(d); ok {
		return he, nil
	}
	he, err := readHeader(ctx, e, d, size)
	if err != nil {
		return nil, err
	}
	e.headers.put(he)
	return he, nil
}

// readHeader reads and parses the header of blob d from src.
func readHeader(ctx context.Context, src blobSource, d dedup.Digest, size int64) (*headerEntry, error) {
	if size >= headerPeekMin {
		head, err := src.readBlobRange(ctx, d, size, 0, headerPeek)
		if err != nil {
			return nil, err
		}
		if n, ok := headerEnd(head); ok {
			return entryOf(d, head[:n]), nil
		}
	}
	raw, err := src.readBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	n, _ := headerEnd(raw)
	return entryOf(d, raw[:n]), nil
}

// Digest names a message's bytes (Item.Digest): SHA-256 of the raw
// message, as dedup computes it.
type Digest = dedup.Digest

// BlobHeader returns the header block of the message stored as blob d of
// size bytes (an Item's Digest and Size), as ReadHeader does, without
// reading the item: an IMAP FETCH of headers knows both. A blob that is
// gone (its items expunged and collected) is ErrNotFound.
func (e *Engine) BlobHeader(ctx context.Context, d Digest, size int64) ([]byte, error) {
	if he, ok := e.headers.get(d); ok {
		return he.raw, nil
	}
	var br blobRec
	if found, err := getVal(e.db, blobKey(d), &br); err != nil {
		return nil, err
	} else if !found {
		return nil, notFoundf("blob %s", d)
	}
	he, err := e.header(ctx, d, size)
	if hsm.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return he.raw, nil
}

// ReadHeader returns an item's header block: the message up to and with
// the empty line that ends its header (the whole message when there is
// none). It is served from the header cache when it can be; the caller
// must not modify it.
func (e *Engine) ReadHeader(ctx context.Context, acct, item uint64) ([]byte, error) {
	_, it, err := loadItem(e.db, acct, item)
	if err != nil {
		return nil, err
	}
	he, err := e.header(ctx, it.Digest, it.Size)
	if err != nil {
		return nil, err
	}
	return he.raw, nil
}
