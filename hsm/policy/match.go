package policy

import (
	"slices"
	"strings"
	"time"
)

// Item is what a policy looks at.
type Item struct {
	Type   string // message, document, ...
	Folder string // full path, "/"-separated
	Date   time.Time
	Size   int64
	Flags  []string
	// HasAttachment is asked only when a line needs it (it may parse the
	// message); nil means no.
	HasAttachment func() bool
}

// Match reports whether the policy selects the item at time now.
func (p *Policy) Match(it Item, now time.Time) bool {
	for _, l := range p.Lines {
		if l.Match(it, now) {
			return true
		}
	}
	return false
}

// Match reports whether the line selects the item at time now.
func (l Line) Match(it Item, now time.Time) bool {
	if !slices.Contains(l.Types, it.Type) {
		return false
	}
	// Cheap terms first: the attachment check may parse the message.
	for _, t := range l.Terms {
		if t.Kind != Attachment && !t.match(it, now) {
			return false
		}
	}
	for _, t := range l.Terms {
		if t.Kind == Attachment && !t.match(it, now) {
			return false
		}
	}
	return true
}

func (t Term) match(it Item, now time.Time) bool {
	switch t.Kind {
	case Before:
		return it.Date.Before(t.when(now))
	case After:
		return it.Date.After(t.when(now))
	case In:
		return sameFolder(it.Folder, t.Folder)
	case Attachment:
		return it.HasAttachment != nil && it.HasAttachment()
	case Larger:
		return it.Size > t.Size
	case Smaller:
		return it.Size < t.Size
	case Is:
		seen, flagged := slices.Contains(it.Flags, `\Seen`), slices.Contains(it.Flags, `\Flagged`)
		switch t.Value {
		case "read":
			return seen
		case "unread":
			return !seen
		case "flagged":
			return flagged
		case "unflagged":
			return !flagged
		}
	}
	return false
}

// when is the instant a before:/after: term compares with.
func (t Term) when(now time.Time) time.Time {
	switch t.Unit {
	case "minute":
		return now.Add(-time.Duration(t.N) * time.Minute)
	case "hour":
		return now.Add(-time.Duration(t.N) * time.Hour)
	case "day":
		return now.AddDate(0, 0, -t.N)
	case "week":
		return now.AddDate(0, 0, -7*t.N)
	case "month":
		return now.AddDate(0, -t.N, 0)
	}
	return t.At
}

// sameFolder compares folder paths: INBOX (the first component) in any
// case, the rest exactly.
func sameFolder(a, b string) bool {
	a, b = strings.Trim(a, "/"), strings.Trim(b, "/")
	ah, arest, _ := strings.Cut(a, "/")
	bh, brest, _ := strings.Cut(b, "/")
	if strings.EqualFold(ah, "INBOX") && strings.EqualFold(bh, "INBOX") {
		return arest == brest
	}
	return a == b
}
