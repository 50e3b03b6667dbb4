package imap

import (
	"context"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// SortThreader is what SORT and THREAD (RFC 5256) need of a Source; a
// source without it answers them NO [CANNOT]. The live source has it.
type SortThreader interface {
	Sort(ctx context.Context, folder uint64, keys []engine.SortKey, c *engine.SearchCriteria) ([]uint64, error)
	Thread(ctx context.Context, folder uint64, alg engine.ThreadAlgorithm, c *engine.SearchCriteria) ([]*engine.Thread, error)
}

var _ SortThreader = liveSource{}

func (l liveSource) Sort(ctx context.Context, folder uint64, keys []engine.SortKey, c *engine.SearchCriteria) ([]uint64, error) {
	return l.b.Sort(ctx, l.acct, folder, keys, c)
}

func (l liveSource) Thread(ctx context.Context, folder uint64, alg engine.ThreadAlgorithm, c *engine.SearchCriteria) ([]*engine.Thread, error) {
	return l.b.Thread(ctx, l.acct, folder, alg, c)
}

var errNoSort = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "SORT and THREAD are not available for this mailbox"}

var sortFields = map[string]engine.SortField{
	"ARRIVAL": engine.SortArrival, "CC": engine.SortCc, "DATE": engine.SortDate, "FROM": engine.SortFrom,
	"SIZE": engine.SortSize, "SUBJECT": engine.SortSubject, "TO": engine.SortTo,
	"DISPLAYFROM": engine.SortDisplayFrom, "DISPLAYTO": engine.SortDisplayTo,
}

// cmdSort answers SORT and UID SORT:
//
//	SORT SP "(" [REVERSE SP] key *(SP [REVERSE SP] key) ")" SP charset 1*(SP search-key)
func (c *conn) cmdSort(tag string, uid bool) error {
	if err := c.dec.sp(); err != nil {
		return err
	}
	var keys []engine.SortKey
	if err := c.dec.list(func() error {
		if len(keys) >= 32 {
			return badf("too many sort keys")
		}
		k := engine.SortKey{}
		a, err := c.dec.atom()
		if err != nil {
			return err
		}
		if strings.EqualFold(a, "REVERSE") {
			k.Reverse = true
			if err := c.dec.sp(); err != nil {
				return err
			}
			if a, err = c.dec.atom(); err != nil {
				return err
			}
		}
		f, ok := sortFields[strings.ToUpper(a)]
		if !ok {
			return badf("unknown sort key %s", truncate(a, 32))
		}
		k.Field = f
		keys = append(keys, k)
		return nil
	}); err != nil {
		return err
	}
	if len(keys) == 0 {
		return badf("SORT needs a sort key")
	}
	criteria, err := c.charsetAndKeys()
	if err != nil {
		return err
	}
	return c.sess.Sort(c, uid, keys, criteria)
}

// cmdThread answers THREAD and UID THREAD:
//
//	THREAD SP algorithm SP charset 1*(SP search-key)
func (c *conn) cmdThread(tag string, uid bool) error {
	if err := c.dec.sp(); err != nil {
		return err
	}
	a, err := c.dec.atom()
	if err != nil {
		return err
	}
	alg := engine.ThreadAlgorithm(strings.ToUpper(a))
	if alg != engine.ThreadOrderedSubject && alg != engine.ThreadReferences {
		return badf("unknown thread algorithm %s", truncate(a, 32))
	}
	criteria, err := c.charsetAndKeys()
	if err != nil {
		return err
	}
	return c.sess.Thread(c, uid, alg, criteria)
}

// charsetAndKeys reads SORT's and THREAD's SP charset SP search keys.
func (c *conn) charsetAndKeys() (*imap.SearchCriteria, error) {
	if err := c.dec.sp(); err != nil {
		return nil, err
	}
	cs, err := c.dec.astring()
	if err != nil {
		return nil, err
	}
	if err := c.dec.setCharset(cs); err != nil {
		return nil, err
	}
	if err := c.dec.sp(); err != nil {
		return nil, err
	}
	return c.dec.searchKeys()
}

// Sort runs SORT on the engine and writes "* SORT n..." in the engine's
// order, by sequence number or UID; messages the client has not been told
// of are left out.
func (s *session) Sort(w *conn, uid bool, keys []engine.SortKey, criteria *imap.SearchCriteria) error {
	defer s.busy()()
	v := s.sel
	st, ok := v.src.(SortThreader)
	if !ok {
		return errNoSort
	}
	ec := s.toEngine(criteria)
	var ids []uint64
	if err := s.bounded(func(ctx context.Context) error {
		var err error
		ids, err = st.Sort(ctx, v.folder.ID, keys, ec)
		return err
	}); err != nil {
		return s.searchError(err)
	}
	pos, err := s.positions()
	if err != nil {
		return translate(s.srv.log, "sort", err)
	}
	var modseq uint64
	return w.write(func(e *encoder) {
		e.raw("* SORT")
		for _, id := range ids {
			i, ok := pos[id]
			if !ok {
				continue
			}
			e.sp().num(s.number(i, uid))
			modseq = max(modseq, v.msgs[i].modseq)
		}
		if hasModSeq(criteria) {
			e.raw(" (MODSEQ ").num64(modseq).raw(")")
		}
		e.crlf()
	})
}

// Thread runs THREAD on the engine and writes "* THREAD" with the
// forest: a dummy (a message referred to but absent) is not shown, its
// children taking its place (RFC 5256 section 4).
func (s *session) Thread(w *conn, uid bool, alg engine.ThreadAlgorithm, criteria *imap.SearchCriteria) error {
	defer s.busy()()
	v := s.sel
	st, ok := v.src.(SortThreader)
	if !ok {
		return errNoSort
	}
	ec := s.toEngine(criteria)
	var forest []*engine.Thread
	if err := s.bounded(func(ctx context.Context) error {
		var err error
		forest, err = st.Thread(ctx, v.folder.ID, alg, ec)
		return err
	}); err != nil {
		return s.searchError(err)
	}
	pos, err := s.positions()
	if err != nil {
		return translate(s.srv.log, "thread", err)
	}
	num := func(t *engine.Thread) (uint32, bool) {
		if t.Item == 0 {
			return 0, false
		}
		i, ok := pos[t.Item]
		if !ok {
			return 0, false
		}
		return s.number(i, uid), true
	}
	return w.write(func(e *encoder) {
		// thread-data = "THREAD" [SP 1*thread-list]: the lists follow
		// each other without spaces.
		e.raw("* THREAD")
		first := true
		for _, t := range forest {
			if members := threadMembers(t, num); members != "" {
				if first {
					e.sp()
					first = false
				}
				e.raw("(").raw(members).raw(")")
			}
		}
		e.crlf()
	})
}

// threadMembers renders the inside of one thread-list: the chain of
// single replies as numbers, then the branches each in parentheses.
// A node without a number (a dummy, or a message the client does not
// know) is skipped, its children taking its place.
func threadMembers(t *engine.Thread, num func(*engine.Thread) (uint32, bool)) string {
	return string(appendMembers(nil, t, num))
}

// appendMembers appends t's members to b (nothing when no node of t has
// a number). A chain of single children is written in place, so a long
// reply chain costs its length, not its square.
func appendMembers(b []byte, t *engine.Thread, num func(*engine.Thread) (uint32, bool)) []byte {
	start := len(b)
	sep := func() {
		if len(b) > start {
			b = append(b, ' ')
		}
	}
	for {
		if n, ok := num(t); ok {
			sep()
			b = strconv.AppendUint(b, uint64(n), 10)
		}
		if len(t.Children) != 1 {
			break
		}
		t = t.Children[0]
	}
	var kids [][]byte
	for _, c := range t.Children {
		if k := appendMembers(nil, c, num); len(k) > 0 {
			kids = append(kids, k)
		}
	}
	switch len(kids) {
	case 0:
	case 1:
		sep()
		b = append(b, kids[0]...)
	default:
		sep()
		for _, k := range kids {
			b = append(append(append(b, '('), k...), ')')
		}
	}
	return b
}

// positions maps the ids of items as the folder has them now (what
// Search, Sort and Thread answer) to view indexes. A message another
// session expunged or moved since the view was synced is left out: its id
// may now name the message at a new UID (a MOVE into this folder), which
// the view holds under that UID once it has heard of it.
func (s *session) positions() (map[uint64]int, error) {
	v := s.sel
	stale, err := s.staleUIDs()
	if err != nil {
		return nil, err
	}
	pos := make(map[uint64]int, len(v.msgs))
	for i := range v.msgs {
		if !stale[v.msgs[i].uid] {
			pos[v.msgs[i].id] = i
		}
	}
	return pos, nil
}

// number is the sequence number or UID of the view's message i.
func (s *session) number(i int, uid bool) uint32 {
	if uid {
		return s.sel.msgs[i].uid
	}
	return uint32(i + 1)
}
