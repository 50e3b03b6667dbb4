package imap

import (
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// Search answers SEARCH and UID SEARCH with every RFC 9051 key, ESEARCH
// return options (MIN, MAX, COUNT, ALL) and SEARCHRES (SAVE, "$").
// Sequence numbers, UIDs, flags, dates and sizes are decided on the
// session's view, header keys on the cached headers; body, text and
// sent-date keys are asked of the engine, one query per key, and combined
// here.
func (s *session) Search(kind numKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	defer s.busy()()
	ev := &searchEval{s: s, content: make(map[contentKey]map[uint64]bool)}
	v := s.sel
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for i := range v.msgs {
		m := &v.msgs[i]
		ok, err := ev.match(criteria, uint32(i+1), m)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		seqs.AddNum(uint32(i + 1))
		uids.AddNum(imap.UID(m.uid))
		num := uint32(i + 1)
		if kind == numKindUID {
			num = m.uid
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == numKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	if options != nil && options.ReturnSave {
		v.searchRes = uids
	}
	if hasModSeq(criteria) {
		// RFC 7162 section 3.1.5: the highest MODSEQ of the matches.
		s.c.enableCondStore()
		for i := range v.msgs {
			if seqs.Contains(uint32(i + 1)) {
				data.ModSeq = max(data.ModSeq, v.msgs[i].modseq)
			}
		}
	}
	return data, nil
}

// hasModSeq reports whether a MODSEQ key appears anywhere in c.
func hasModSeq(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeq(&c.Or[i][0]) || hasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

type searchEval struct {
	s       *session
	content map[contentKey]map[uint64]bool // engine answers by key
}

func (e *searchEval) match(c *imap.SearchCriteria, seq uint32, m *message) (bool, error) {
	v := e.s.sel
	for _, set := range c.SeqNum {
		if !seqSetContains(set, seq, uint32(len(v.msgs))) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			set = v.searchRes
		}
		if !uidSetContains(set, m.uid, v.maxUID()) {
			return false, nil
		}
	}
	if !c.Since.IsZero() && dateOf(m.date).Before(dateOf(c.Since)) {
		return false, nil
	}
	if !c.Before.IsZero() && !dateOf(m.date).Before(dateOf(c.Before)) {
		return false, nil
	}
	for _, f := range c.Flag {
		if !hasFlag(wireStrings(m), imap.Flag(canonFlag(string(f)))) {
			return false, nil
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(wireStrings(m), imap.Flag(canonFlag(string(f)))) {
			return false, nil
		}
	}
	if c.Larger > 0 && m.size <= c.Larger {
		return false, nil
	}
	if c.Smaller > 0 && m.size >= c.Smaller {
		return false, nil
	}
	if c.ModSeq != nil && m.modseq < c.ModSeq.ModSeq {
		return false, nil
	}
	for _, h := range c.Header {
		hdr, err := e.s.header(m.id)
		if errors.Is(err, engine.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if !headerMatches(hdr, h.Key, h.Value) {
			return false, nil
		}
	}
	for _, q := range contentQueries(c) {
		hits, err := e.query(q)
		if err != nil {
			return false, err
		}
		if !hits[m.id] {
			return false, nil
		}
	}
	for i := range c.Not {
		ok, err := e.match(&c.Not[i], seq, m)
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		a, err := e.match(&c.Or[i][0], seq, m)
		if err != nil {
			return false, err
		}
		if a {
			continue
		}
		b, err := e.match(&c.Or[i][1], seq, m)
		if err != nil || !b {
			return false, err
		}
	}
	return true, nil
}

// contentKey identifies one content query of contentQueries, which sets
// exactly one of its fields.
type contentKey struct {
	body, text    string
	since, before time.Time
}

// contentQueries splits the keys that need the message bytes into one
// engine query each, so results can be cached across messages.
func contentQueries(c *imap.SearchCriteria) []engine.SearchCriteria {
	var qs []engine.SearchCriteria
	for _, b := range c.Body {
		qs = append(qs, engine.SearchCriteria{Body: []string{b}})
	}
	for _, t := range c.Text {
		qs = append(qs, engine.SearchCriteria{Text: []string{t}})
	}
	if !c.SentSince.IsZero() {
		qs = append(qs, engine.SearchCriteria{SentSince: dateOf(c.SentSince)})
	}
	if !c.SentBefore.IsZero() {
		qs = append(qs, engine.SearchCriteria{SentBefore: dateOf(c.SentBefore)})
	}
	return qs
}

func (e *searchEval) query(q engine.SearchCriteria) (map[uint64]bool, error) {
	key := contentKey{body: strings.Join(q.Body, "\x00"), text: strings.Join(q.Text, "\x00"), since: q.SentSince, before: q.SentBefore}
	if hits, ok := e.content[key]; ok {
		return hits, nil
	}
	ids, err := e.s.sel.src.Search(e.s.ctx, e.s.sel.folder.ID, &q)
	if err != nil {
		return nil, translate(e.s.srv.log, "search", err)
	}
	hits := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		hits[id] = true
	}
	e.content[key] = hits
	return hits, nil
}

// dateOf keeps the calendar date of t in UTC: SEARCH date keys ignore the
// time of day.
func dateOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}
