package imap

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// Search answers SEARCH and UID SEARCH with every RFC 9051 key, ESEARCH
// return options (MIN, MAX, COUNT, ALL), SEARCHRES (SAVE, "$") and
// CONDSTORE's MODSEQ. The program is translated into one engine
// SearchCriteria tree (toEngine) and evaluated by the engine, once; the
// session only maps what the engine cannot know: sequence numbers, "$"
// and \Recent become UIDs of its view. Matches the client has not been
// told of yet (new messages) are left out.
func (s *session) Search(kind numKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	defer s.busy()()
	v := s.sel
	ec := s.toEngine(criteria)
	var ids []uint64
	among := false
	err := s.bounded(func(ctx context.Context) error {
		var err error
		if as, ok := v.src.(amongSearcher); ok && v.synced == s.gen.Load() {
			// The view is current (no change signalled since its last
			// sync): search it instead of listing the folder again.
			ids, err = as.SearchAmong(ctx, v.items(), ec)
			if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				among = true
				return err
			}
			// A message expunged meanwhile: search the folder as stored.
		}
		ids, err = v.src.Search(ctx, v.folder.ID, ec)
		return err
	})
	if err != nil {
		return nil, s.searchError(err)
	}
	var matched []int
	if among {
		matched = v.indexesAmong(ids)
	} else {
		pos, err := s.positions()
		if err != nil {
			return nil, translate(s.srv.log, "search", err)
		}
		matched = make([]int, 0, len(ids))
		for _, id := range ids {
			if i, ok := pos[id]; ok {
				matched = append(matched, i)
			}
		}
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	minAt, maxAt := -1, -1 // view indexes of the MIN and MAX messages
	for _, i := range matched {
		m := &v.msgs[i]
		seqs.AddNum(uint32(i + 1))
		uids.AddNum(imap.UID(m.uid))
		num := uint32(i + 1)
		if kind == numKindUID {
			num = m.uid
		}
		if data.Min == 0 || num < data.Min {
			data.Min, minAt = num, i
		}
		if num >= data.Max {
			data.Max, maxAt = num, i
		}
		data.Count++
	}
	if kind == numKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	// onlyMinMax: RETURN names MIN and/or MAX and neither ALL nor COUNT.
	// Then SAVE keeps only those messages (RFC 5182 section 2.4) and
	// MODSEQ is theirs (RFC 7162 section 3.1.5), not the highest of every
	// match.
	onlyMinMax := options != nil && (options.ReturnMin || options.ReturnMax) &&
		!options.ReturnAll && !options.ReturnCount
	picked := matched
	if onlyMinMax {
		picked = nil
		if options.ReturnMin && minAt >= 0 {
			picked = append(picked, minAt)
		}
		if options.ReturnMax && maxAt >= 0 && maxAt != minAt {
			picked = append(picked, maxAt)
		}
	}
	if options != nil && options.ReturnSave {
		if onlyMinMax {
			var saved imap.UIDSet
			for _, i := range picked {
				saved.AddNum(imap.UID(v.msgs[i].uid))
			}
			v.searchRes = saved
		} else {
			v.searchRes = uids
		}
	}
	if hasModSeq(criteria) {
		// RFC 7162 section 3.1.5: the highest MODSEQ of the messages
		// returned.
		s.c.enableCondStore()
		for _, i := range picked {
			data.ModSeq = max(data.ModSeq, v.msgs[i].modseq)
		}
	}
	return data, nil
}

// amongSearcher is a Source that can search items it returned before
// (a session's view) without listing the folder.
type amongSearcher interface {
	SearchAmong(ctx context.Context, items []engine.Item, c *engine.SearchCriteria) ([]uint64, error)
}

// items is the view as engine items, for SearchAmong.
func (v *selected) items() []engine.Item {
	out := make([]engine.Item, len(v.msgs))
	for i := range v.msgs {
		m := &v.msgs[i]
		out[i] = engine.Item{ID: m.id, Folder: v.folder.ID, UID: m.uid, Flags: m.flags,
			InternalDate: m.date, Size: m.size, Digest: m.digest, ModSeq: m.modseq}
	}
	return out
}

// indexesAmong maps the ids SearchAmong found among v.items() (a
// subsequence of them, in their order) to view indexes, ascending. The
// view may hold one id twice for a while: the old UID of a message another
// session moved within the folder, not yet reported expunged, and its new
// UID; the order tells them apart.
func (v *selected) indexesAmong(ids []uint64) []int {
	out := make([]int, 0, len(ids))
	j := 0
	for _, id := range ids {
		for j < len(v.msgs) && v.msgs[j].id != id {
			j++
		}
		if j == len(v.msgs) {
			break
		}
		out = append(out, j)
		j++
	}
	return out
}

// searchTimeout bounds one SEARCH, SORT or THREAD.
func (s *session) searchTimeout() time.Duration { return s.srv.opts.SearchTimeout }

// bounded runs f with a context that ends after Options.SearchTimeout or
// when the client goes away (clientGone polls the socket while f runs),
// so an expensive search stops instead of running for nobody.
func (s *session) bounded(f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.searchTimeout())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if clientGone(s.c.tcp) {
					cancel()
					return
				}
			}
		}
	}()
	return f(ctx)
}

// errSearchTimeout answers a search cut by Options.SearchTimeout.
var errSearchTimeout = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
	Text: "Search took too long; narrow it down"}

func (s *session) searchError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return errSearchTimeout
	}
	if errors.Is(err, engine.ErrInvalid) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Search program too complex"}
	}
	return translate(s.srv.log, "search", err)
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

// none is a criteria tree that matches nothing.
func none() engine.SearchCriteria { return engine.SearchCriteria{Not: []engine.SearchCriteria{{}}} }

// toEngine translates a parsed search program into one engine tree.
func (s *session) toEngine(c *imap.SearchCriteria) *engine.SearchCriteria {
	v := s.sel
	out := &engine.SearchCriteria{
		Since: dateOf(c.Since), Before: dateOf(c.Before),
		SentSince: dateOf(c.SentSince), SentBefore: dateOf(c.SentBefore),
		Larger: c.Larger, Smaller: c.Smaller,
		Body: c.Body, Text: c.Text,
	}
	if c.Since.IsZero() {
		out.Since = time.Time{}
	}
	if c.Before.IsZero() {
		out.Before = time.Time{}
	}
	if c.SentSince.IsZero() {
		out.SentSince = time.Time{}
	}
	if c.SentBefore.IsZero() {
		out.SentBefore = time.Time{}
	}
	for _, h := range c.Header {
		out.Header = append(out.Header, engine.HeaderMatch{Key: h.Key, Value: h.Value})
	}
	if c.ModSeq != nil {
		out.ModSeq = c.ModSeq.ModSeq
	}
	max := uint32(len(v.msgs))
	for _, set := range c.SeqNum {
		out.And = append(out.And, uidCriteria(s.viewRanges(func(i int) bool { return seqSetContains(set, uint32(i+1), max) })))
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			set = v.searchRes
		}
		var ranges []engine.UIDRange
		maxUID := v.maxUID()
		for _, r := range set {
			start, stop := uint32(r.Start), uint32(r.Stop)
			if start == 0 {
				start = maxUID
			}
			if stop == 0 {
				stop = maxUID
			}
			if start == 0 || stop == 0 {
				continue // "*" of an empty mailbox
			}
			ranges = append(ranges, engine.UIDRange{Start: min(start, stop), Stop: max32(start, stop)})
		}
		out.And = append(out.And, uidCriteria(ranges))
	}
	for _, f := range c.Flag {
		if canonRecent(f) {
			out.And = append(out.And, uidCriteria(s.recentUIDs()))
			continue
		}
		out.Flags = append(out.Flags, canonFlag(string(f)))
	}
	for _, f := range c.NotFlag {
		if canonRecent(f) {
			out.Not = append(out.Not, uidCriteria(s.recentUIDs()))
			continue
		}
		out.NotFlags = append(out.NotFlags, canonFlag(string(f)))
	}
	for i := range c.Not {
		out.Not = append(out.Not, *s.toEngine(&c.Not[i]))
	}
	for i := range c.Or {
		out.Or = append(out.Or, [2]engine.SearchCriteria{*s.toEngine(&c.Or[i][0]), *s.toEngine(&c.Or[i][1])})
	}
	return out
}

func max32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

func canonRecent(f imap.Flag) bool { return strings.EqualFold(string(f), `\Recent`) }

// uidCriteria matches the UIDs of ranges; no ranges match nothing.
func uidCriteria(ranges []engine.UIDRange) engine.SearchCriteria {
	if len(ranges) == 0 {
		return none()
	}
	return engine.SearchCriteria{UIDs: ranges}
}

// viewRanges returns the UIDs of the view's messages at the indexes in
// selects, as ranges: messages next to each other in the view make one
// range, since no message the engine holds lies between two of them
// (UIDs only rise, and new ones come after the view's last).
func (s *session) viewRanges(in func(i int) bool) []engine.UIDRange {
	var out []engine.UIDRange
	prev := false
	for i := range s.sel.msgs {
		if !in(i) {
			prev = false
			continue
		}
		uid := s.sel.msgs[i].uid
		if prev {
			out[len(out)-1].Stop = uid
		} else {
			out = append(out, engine.UIDRange{Start: uid, Stop: uid})
		}
		prev = true
	}
	return out
}

// recentUIDs are the UIDs of the view's messages recent in this session.
func (s *session) recentUIDs() []engine.UIDRange {
	return s.viewRanges(func(i int) bool { return s.sel.msgs[i].recent })
}

// dateOf keeps the calendar date of t in UTC: SEARCH date keys ignore the
// time of day.
func dateOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}
