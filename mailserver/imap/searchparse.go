package imap

import (
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/charset"
)

// Bounds on one SEARCH program: the keys in it and, among them, the keys
// that read message text (BODY, TEXT), which are what makes a search
// expensive. Nesting is bounded by maxNesting.
const (
	maxSearchKeys     = 256
	maxSearchTextKeys = 32
)

// searchProgram counts keys while a SEARCH program is parsed.
type searchProgram struct {
	keys, text int
}

// searchReturn reads an optional "RETURN (...)" (RFC 4731, RFC 5182) and
// reports whether it was there.
func (d *decoder) searchReturn(opts *imap.SearchOptions) (bool, error) {
	if !d.acceptFold("RETURN") {
		return false, nil
	}
	if err := d.sp(); err != nil {
		return false, err
	}
	err := d.list(func() error {
		a, err := d.atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "MIN":
			opts.ReturnMin = true
		case "MAX":
			opts.ReturnMax = true
		case "ALL":
			opts.ReturnAll = true
		case "COUNT":
			opts.ReturnCount = true
		case "SAVE":
			opts.ReturnSave = true
		default:
			return badf("unknown RETURN option %s", truncate(a, 32))
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if !opts.ReturnMin && !opts.ReturnMax && !opts.ReturnCount && !opts.ReturnSave {
		opts.ReturnAll = true // RETURN () means ALL
	}
	return true, d.sp()
}

// searchCriteria reads a search program: [CHARSET x] key *(SP key), up
// to the end of the command.
func (d *decoder) searchCriteria() (*imap.SearchCriteria, error) {
	d.charset = ""
	if d.acceptFold("CHARSET") {
		if err := d.sp(); err != nil {
			return nil, err
		}
		cs, err := d.astring()
		if err != nil {
			return nil, err
		}
		if err := d.setCharset(cs); err != nil {
			return nil, err
		}
		if err := d.sp(); err != nil {
			return nil, err
		}
	}
	return d.searchKeys()
}

// setCharset takes the charset a SEARCH, SORT or THREAD names for its
// strings. UTF-8 and US-ASCII are read as they are; any other charset
// go-message knows (ISO-8859-*, windows-125*, KOI8-R, Shift_JIS, ...) is
// converted to UTF-8 as each string is read. One it does not know is a NO
// [BADCHARSET], not a BAD: RFC 9051 section 6.4.4 asks for "a tagged NO
// response (not a BAD)".
func (d *decoder) setCharset(cs string) error {
	d.charset = ""
	if strings.EqualFold(cs, "UTF-8") || strings.EqualFold(cs, "US-ASCII") {
		return nil
	}
	if _, err := charset.Reader(cs, strings.NewReader("")); err != nil {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeBadCharset,
			Text: "Unknown charset " + truncate(cs, 32)}
	}
	d.charset = cs
	return nil
}

// fromCharset converts a search string from the program's charset.
func (d *decoder) fromCharset(s string) (string, error) {
	if d.charset == "" || s == "" {
		return s, nil
	}
	r, err := charset.Reader(d.charset, strings.NewReader(s))
	if err == nil {
		var b []byte
		if b, err = io.ReadAll(r); err == nil {
			return string(b), nil
		}
	}
	return "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeBadCharset,
		Text: "Text not in charset " + truncate(d.charset, 32)}
}

// searchKeys reads key *(SP key) to the end of the command.
func (d *decoder) searchKeys() (*imap.SearchCriteria, error) {
	c := &imap.SearchCriteria{}
	p := &searchProgram{}
	for {
		if err := d.searchKey(p, c); err != nil {
			return nil, err
		}
		if !d.accept(' ') {
			break
		}
	}
	return c, d.end()
}

// searchKey reads one key and ANDs it into c.
func (d *decoder) searchKey(p *searchProgram, c *imap.SearchCriteria) error {
	if p.keys++; p.keys > maxSearchKeys {
		return &syntaxError{msg: "Search program too complex", code: imap.ResponseCodeLimit}
	}
	b, err := d.peek()
	if err != nil {
		return err
	}
	switch {
	case b == '(':
		return d.list(func() error { return d.searchKey(p, c) })
	case b == '$' || b == '*' || (b >= '0' && b <= '9'):
		set, err := d.numSet(false)
		if err != nil {
			return err
		}
		if imap.IsSearchRes(set) {
			c.UID = append(c.UID, imap.SearchRes())
		} else {
			c.SeqNum = append(c.SeqNum, set.(imap.SeqSet))
		}
		return nil
	}
	key, err := d.atom()
	if err != nil {
		return err
	}
	key = strings.ToUpper(key)
	arg := func() (string, error) {
		if err := d.sp(); err != nil {
			return "", err
		}
		s, err := d.astring()
		if err != nil {
			return "", err
		}
		return d.fromCharset(s)
	}
	date := func() (time.Time, error) {
		if err := d.sp(); err != nil {
			return time.Time{}, err
		}
		return d.date()
	}
	flag := func(f imap.Flag, not bool) {
		if not {
			c.NotFlag = append(c.NotFlag, f)
		} else {
			c.Flag = append(c.Flag, f)
		}
	}
	header := func(name string) error {
		v, err := arg()
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: name, Value: v})
		return err
	}
	switch key {
	case "ALL":
	case "ANSWERED", "UNANSWERED":
		flag(imap.FlagAnswered, key[0] == 'U')
	case "DELETED", "UNDELETED":
		flag(imap.FlagDeleted, key[0] == 'U')
	case "DRAFT", "UNDRAFT":
		flag(imap.FlagDraft, key[0] == 'U')
	case "FLAGGED", "UNFLAGGED":
		flag(imap.FlagFlagged, key[0] == 'U')
	case "SEEN", "UNSEEN":
		flag(imap.FlagSeen, key[0] == 'U')
	case "RECENT":
		flag(`\Recent`, false)
	case "OLD":
		flag(`\Recent`, true)
	case "NEW":
		flag(`\Recent`, false)
		flag(imap.FlagSeen, true)
	case "KEYWORD", "UNKEYWORD":
		if err := d.sp(); err != nil {
			return err
		}
		f, err := d.flag()
		if err != nil {
			return err
		}
		flag(imap.Flag(f), key[0] == 'U')
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		return header(key[:1] + strings.ToLower(key[1:]))
	case "HEADER":
		name, err := arg()
		if err != nil {
			return err
		}
		return header(name)
	case "BODY", "TEXT":
		if p.text++; p.text > maxSearchTextKeys {
			return &syntaxError{msg: "Too many BODY/TEXT keys", code: imap.ResponseCodeLimit}
		}
		v, err := arg()
		if key == "BODY" {
			c.Body = append(c.Body, v)
		} else {
			c.Text = append(c.Text, v)
		}
		return err
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		t, err := date()
		if err != nil {
			return err
		}
		sent := strings.HasPrefix(key, "SENT")
		since, before := &c.Since, &c.Before
		if sent {
			since, before = &c.SentSince, &c.SentBefore
		}
		switch strings.TrimPrefix(key, "SENT") {
		case "BEFORE":
			*before = earliest(*before, t)
		case "SINCE":
			*since = latest(*since, t)
		case "ON":
			*since = latest(*since, t)
			*before = earliest(*before, t.AddDate(0, 0, 1))
		}
	case "LARGER", "SMALLER":
		if err := d.sp(); err != nil {
			return err
		}
		n, err := d.number64()
		if err != nil {
			return err
		}
		if key == "LARGER" {
			c.Larger = max(c.Larger, int64(n))
		} else if c.Smaller == 0 || int64(n) < c.Smaller {
			c.Smaller = int64(n)
		}
	case "UID":
		if err := d.sp(); err != nil {
			return err
		}
		set, err := d.numSet(true)
		if err != nil {
			return err
		}
		c.UID = append(c.UID, set.(imap.UIDSet))
	case "NOT":
		if err := d.sp(); err != nil {
			return err
		}
		var n imap.SearchCriteria
		if err := d.nested(func() error { return d.searchKey(p, &n) }); err != nil {
			return err
		}
		c.Not = append(c.Not, n)
	case "OR":
		var a, b imap.SearchCriteria
		err := d.nested(func() error {
			if err := d.sp(); err != nil {
				return err
			}
			if err := d.searchKey(p, &a); err != nil {
				return err
			}
			if err := d.sp(); err != nil {
				return err
			}
			return d.searchKey(p, &b)
		})
		if err != nil {
			return err
		}
		c.Or = append(c.Or, [2]imap.SearchCriteria{a, b})
	case "MODSEQ":
		if err := d.sp(); err != nil {
			return err
		}
		ms := &imap.SearchCriteriaModSeq{}
		if b, _ := d.peek(); b == '"' {
			// entry-name SP entry-type-req: metadata is not kept per
			// flag, so it is read and ignored (RFC 7162 allows it).
			if _, err := d.quoted(); err != nil {
				return err
			}
			if err := d.sp(); err != nil {
				return err
			}
			if _, err := d.atom(); err != nil {
				return err
			}
			if err := d.sp(); err != nil {
				return err
			}
		}
		n, err := d.number64()
		if err != nil {
			return err
		}
		ms.ModSeq = n
		if c.ModSeq == nil || n > c.ModSeq.ModSeq {
			c.ModSeq = ms
		}
	default:
		return badf("unknown search key %s", truncate(key, 32))
	}
	return nil
}

// nested runs f one level deeper, within maxNesting.
func (d *decoder) nested(f func() error) error {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxNesting {
		return &syntaxError{msg: "Search program too deeply nested", code: imap.ResponseCodeLimit}
	}
	return f()
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}
