package imap

import (
	"bufio"
	"bytes"
	"container/list"
	"mime"
	"strings"
	"sync"

	"github.com/emersion/go-message/textproto"
)

// headerCacheSize bounds the memory the server spends on message headers.
const headerCacheSize = 64 << 20

// headerCache keeps the raw header of recently read messages, so FETCH of
// header fields or ENVELOPE and SEARCH HEADER/SUBJECT/FROM... do not read
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

// header returns a message's raw header, from the cache or the blob.
func (s *session) header(id uint64) ([]byte, error) {
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

// headerMatches implements SEARCH HEADER key value (and SUBJECT, FROM,
// TO, CC, BCC): some field named key whose value, with RFC 2047 encoded
// words decoded, contains value case-insensitively. An empty value
// matches any message that has the field.
func headerMatches(header []byte, key, value string) bool {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(header)))
	if err != nil && h.Len() == 0 {
		return false
	}
	want := strings.ToLower(value)
	addresses := isAddressField(key)
	for f := h.FieldsByKey(key); f.Next(); {
		v := f.Value()
		if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
			v = d
		}
		if want == "" || strings.Contains(strings.ToLower(v), want) {
			return true
		}
		// An address field also matches on its parsed addresses, so
		// comments and quoting do not hide them: joe(work)@example.org
		// is found by FROM joe@example.org.
		if addresses {
			for _, a := range addressList(f.Value()) {
				s := a.Name + " <" + a.Mailbox + "@" + a.Host + ">"
				if a.Host == "" {
					s = a.Mailbox
				}
				if strings.Contains(strings.ToLower(s), want) {
					return true
				}
			}
		}
	}
	return false
}

func isAddressField(key string) bool {
	switch strings.ToLower(key) {
	case "from", "to", "cc", "bcc", "sender", "reply-to":
		return true
	}
	return false
}
