package engine

import (
	"context"
	"sort"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// SortField is a SORT criterion (RFC 5256 section 3, RFC 5957 DISPLAY).
type SortField int

// Sort criteria.
const (
	// SortArrival is INTERNALDATE.
	SortArrival SortField = iota + 1
	// SortCc, SortFrom and SortTo are the local part (addr-mailbox) of
	// the first address of the field, compared with i;ascii-casemap; a
	// message without one sorts as "".
	SortCc
	SortDate // the sent date in UTC: Date:, or INTERNALDATE when it does not parse (RFC 5256 section 2.2)
	SortFrom
	SortSize    // RFC822.SIZE
	SortSubject // the base subject (BaseSubject), i;ascii-casemap
	SortTo
	// SortDisplayFrom and SortDisplayTo are the decoded display name of
	// the first address of the field, or its mailbox@host when it has
	// none (RFC 5957), compared with i;unicode-casemap (RFC 5051).
	SortDisplayFrom
	SortDisplayTo
)

// SortKey is one SORT criterion; Reverse is the REVERSE that precedes it.
type SortKey struct {
	Field   SortField
	Reverse bool
}

// maxSortKeys bounds the criteria of one SORT.
const maxSortKeys = 32

// Sort returns the ids of the folder's items matching c (nil: all),
// ordered by keys, the first deciding first; messages equal under every
// key keep UID order (RFC 5256: sequence order). Only ARRIVAL and SIZE
// are answered without reading; the other keys read each message's
// header (the first 32 KiB of a large message when the header ends
// there). The context is checked between messages.
func (e *Engine) Sort(ctx context.Context, acct, folder uint64, keys []SortKey, c *SearchCriteria) ([]uint64, error) {
	if err := checkSortKeys(keys); err != nil {
		return nil, err
	}
	items, err := e.SearchItems(ctx, acct, folder, c)
	if err != nil {
		return nil, err
	}
	return sortItems(ctx, e, items, keys)
}

// SortIn is Sort over items that are not this engine's (a read-only view
// of the backup), in UID order, their bytes read through r.
func SortIn(ctx context.Context, items []Item, r BlobReader, keys []SortKey, c *SearchCriteria) ([]uint64, error) {
	if err := checkSortKeys(keys); err != nil {
		return nil, err
	}
	items, err := SearchIn(ctx, items, r, c)
	if err != nil {
		return nil, err
	}
	return sortItems(ctx, readerSource{r}, items, keys)
}

func checkSortKeys(keys []SortKey) error {
	if len(keys) == 0 || len(keys) > maxSortKeys {
		return invalidf("sort with %d criteria (1 to %d)", len(keys), maxSortKeys)
	}
	for _, k := range keys {
		if k.Field < SortArrival || k.Field > SortDisplayTo {
			return invalidf("sort criterion %d", k.Field)
		}
	}
	return nil
}

// sortItems orders items by keys, reading headers from src when a key
// needs them.
func sortItems(ctx context.Context, src blobSource, items []Item, keys []SortKey) ([]uint64, error) {
	needHeader := false
	for _, k := range keys {
		if k.Field != SortArrival && k.Field != SortSize {
			needHeader = true
		}
	}
	type row struct {
		id   uint64
		nums []int64
		strs []string
	}
	rows := make([]row, len(items))
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := row{id: it.ID, nums: make([]int64, len(keys)), strs: make([]string, len(keys))}
		var fields []hfield
		if needHeader {
			m := &searchMsg{src: src, ctx: ctx, it: it}
			if err := m.loadHeader(); err != nil {
				return nil, err
			}
			fields = m.allFields()
		}
		for j, k := range keys {
			switch k.Field {
			case SortArrival:
				r.nums[j] = it.InternalDate.UnixNano()
			case SortSize:
				r.nums[j] = it.Size
			case SortDate:
				r.nums[j] = sentOrArrival(fields, it).UnixNano()
			case SortSubject:
				v, _ := firstField(fields, "subject")
				b, _ := BaseSubject(v)
				r.strs[j] = asciiFold(b)
			case SortFrom, SortTo, SortCc:
				if a, ok := firstAddr(fields, fieldOf(k.Field)); ok {
					r.strs[j] = asciiFold(a.Mailbox)
				}
			case SortDisplayFrom, SortDisplayTo:
				if a, ok := firstAddr(fields, fieldOf(k.Field)); ok {
					d := a.Name
					if d == "" {
						d = a.Mailbox
						if a.Host != "" {
							d += "@" + a.Host
						}
					}
					r.strs[j] = unicodeCasemap(d)
				}
			}
		}
		rows[i] = r
	}
	sort.SliceStable(rows, func(a, b int) bool {
		x, y := &rows[a], &rows[b]
		for j, k := range keys {
			c := 0
			switch k.Field {
			case SortArrival, SortSize, SortDate:
				c = cmpInt(x.nums[j], y.nums[j])
			default:
				c = strings.Compare(x.strs[j], y.strs[j])
			}
			if k.Reverse {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
	out := make([]uint64, len(rows))
	for i, r := range rows {
		out[i] = r.id
	}
	return out, nil
}

// Thread answers THREAD (RFC 5256 section 3) for the folder's items that
// match c (nil: all): a forest of item ids, threads and siblings ordered
// by sent date. alg is ThreadOrderedSubject or ThreadReferences (Message-ID,
// References and In-Reply-To, with dummies for referred messages that are
// not in the results). Each message's header is read once.
func (e *Engine) Thread(ctx context.Context, acct, folder uint64, alg ThreadAlgorithm, c *SearchCriteria) ([]*Thread, error) {
	if alg != ThreadOrderedSubject && alg != ThreadReferences {
		return nil, invalidf("thread algorithm %q", alg)
	}
	items, err := e.SearchItems(ctx, acct, folder, c)
	if err != nil {
		return nil, err
	}
	return threadItems(ctx, e, items, alg)
}

// ThreadIn is Thread over items that are not this engine's (a read-only
// view of the backup), in UID order, their bytes read through r.
func ThreadIn(ctx context.Context, items []Item, r BlobReader, alg ThreadAlgorithm, c *SearchCriteria) ([]*Thread, error) {
	if alg != ThreadOrderedSubject && alg != ThreadReferences {
		return nil, invalidf("thread algorithm %q", alg)
	}
	items, err := SearchIn(ctx, items, r, c)
	if err != nil {
		return nil, err
	}
	return threadItems(ctx, readerSource{r}, items, alg)
}

// threadItems threads items, reading each header once from src.
func threadItems(ctx context.Context, src blobSource, items []Item, alg ThreadAlgorithm) ([]*Thread, error) {
	msgs := make([]threadMsg, len(items))
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := &searchMsg{src: src, ctx: ctx, it: it}
		if err := m.loadHeader(); err != nil {
			return nil, err
		}
		subj, _ := firstField(m.allFields(), "subject")
		msgs[i] = threadMsg{id: it.ID, seq: i, subject: subj, sent: sentOrArrival(m.allFields(), it)}
		if alg == ThreadReferences {
			mid, _ := firstField(m.allFields(), "message-id")
			if ids := msgIDs(mid); len(ids) > 0 {
				msgs[i].messageID = ids[0]
			}
			refs, _ := firstField(m.allFields(), "references")
			irt, _ := firstField(m.allFields(), "in-reply-to")
			msgs[i].refs = threadRefs(refs, irt)
		}
	}
	if alg == ThreadOrderedSubject {
		return threadOrderedSubject(msgs), nil
	}
	return threadReferences(ctx, msgs)
}

// sentOrArrival is the sent date of RFC 5256 section 2.2: the Date:
// field in UTC, or INTERNALDATE when it is missing or does not parse.
func sentOrArrival(fields []hfield, it Item) time.Time {
	v, _ := firstField(fields, "date")
	if d, ok := sentDate(v); ok {
		return d.UTC()
	}
	return it.InternalDate.UTC()
}

func fieldOf(f SortField) string {
	switch f {
	case SortFrom, SortDisplayFrom:
		return "from"
	case SortTo, SortDisplayTo:
		return "to"
	}
	return "cc"
}

// firstAddr is the first address of the first field named name, as the
// first address of its ENVELOPE list: a list that opens with a group
// ("undisclosed-recipients:;") starts with the group's marker, whose
// mailbox is the group name and whose host is empty.
func firstAddr(fields []hfield, name string) (mailAddr, bool) {
	v, ok := firstField(fields, name)
	if !ok {
		return mailAddr{}, false
	}
	if g, ok := leadingGroup(v); ok {
		return mailAddr{Mailbox: g}, true
	}
	for _, item := range splitTop(ungroup(v), ',') {
		if as := parseAddrs(item); len(as) > 0 {
			return as[0], true
		}
		// A local part without a domain ("From: foo") is an address
		// ENVELOPE lists (host MISSING_DOMAIN), so RFC 5256 sorts it by
		// that mailbox, as Dovecot does; other items that do not parse
		// are passed over.
		if w := strings.TrimSpace(stripComments(item)); w != "" && !strings.ContainsAny(w, " \t<>@\"") {
			return mailAddr{Mailbox: w}, true
		}
	}
	return mailAddr{}, false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// unicodeCasemap is the key of the i;unicode-casemap comparator (RFC
// 5051): each character to its title case, then the NFKD decomposition.
func unicodeCasemap(s string) string {
	return norm.NFKD.String(strings.Map(unicode.ToTitle, s))
}

// leadingGroup returns the name of the group that opens an address list.
func leadingGroup(v string) (string, bool) {
	first := splitTop(v, ',')[0]
	name, found := "", false
	eachTop(first, func(i int) bool {
		if first[i] != ':' {
			return true
		}
		name = strings.TrimSpace(stripComments(first[:i]))
		name = strings.ReplaceAll(strings.Trim(name, `"`), `\"`, `"`)
		found = true
		return false
	})
	if !found {
		return "", false
	}
	return decodeWords(name), true
}
