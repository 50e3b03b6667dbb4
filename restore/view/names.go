package view

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidemark/tidemark/internal/timearg"
)

// DefaultPrefix is the namespace the view is served under.
const DefaultPrefix = "Backup"

// DeletedName is the folder, under the prefix, of every message deleted in
// the retention window.
const DeletedName = "Deleted"

// dayLayout names a day in the namespace.
const dayLayout = "2006-01-02"

// Kind says what a name under the prefix denotes.
type Kind int

const (
	// KindRoot is the prefix itself: not selectable, its children are
	// the days and Deleted.
	KindRoot Kind = iota
	// KindPoint is a day or a time: not selectable, its children are the
	// account's folders then.
	KindPoint
	// KindFolder is one folder as it was at a day's end or a time.
	KindFolder
	// KindDeleted is the Deleted folder.
	KindDeleted
)

// Name is a parsed name of the view's namespace.
type Name struct {
	Kind Kind
	// At is the instant named: the last nanosecond of the day for a day,
	// the time itself otherwise (KindPoint, KindFolder).
	At time.Time
	// Day is set when the name gave a day rather than a time.
	Day bool
	// Label is the time component as given (a day or an RFC 3339 time).
	Label string
	// Folder is the folder path (KindFolder), INBOX in upper case.
	Folder string
}

// ParseName reads name as a name of the view's namespace under prefix,
// with "/" as the hierarchy separator:
//
//	Backup                            KindRoot
//	Backup/Deleted                    KindDeleted
//	Backup/2026-12-01                 KindPoint, the end of that day in loc
//	Backup/2026-12-01T10:00:00Z       KindPoint, that instant (RFC 3339)
//	Backup/2026-12-01/Projects/Q4     KindFolder
//
// ok is false when name is not under prefix (a live folder). A name under
// prefix whose time is neither a day nor an RFC 3339 time, or whose folder
// path is malformed, fails with ErrBadName. A nil loc means UTC.
func ParseName(prefix, name string, loc *time.Location) (n Name, ok bool, err error) {
	if loc == nil {
		loc = time.UTC
	}
	if name == prefix {
		return Name{Kind: KindRoot}, true, nil
	}
	rest, found := strings.CutPrefix(name, prefix+"/")
	if !found {
		return Name{}, false, nil
	}
	label, folder, hasFolder := strings.Cut(rest, "/")
	if label == DeletedName {
		if hasFolder {
			return Name{}, true, fmt.Errorf("%w: %q: %s/%s has no children", ErrBadName, name, prefix, DeletedName)
		}
		return Name{Kind: KindDeleted}, true, nil
	}
	at, day, err := parseLabel(label, loc)
	if err != nil {
		return Name{}, true, fmt.Errorf("%w: %q: %v", ErrBadName, name, err)
	}
	n = Name{Kind: KindPoint, At: at, Day: day, Label: label}
	if !hasFolder {
		return n, true, nil
	}
	if err := checkPath(folder); err != nil {
		return Name{}, true, fmt.Errorf("%w: %q: %v", ErrBadName, name, err)
	}
	n.Kind, n.Folder = KindFolder, normPath(folder)
	return n, true, nil
}

// parseLabel reads a day (its last nanosecond in loc) or an RFC 3339 time.
func parseLabel(s string, loc *time.Location) (time.Time, bool, error) {
	if len(s) == len(dayLayout) {
		if d, err := time.ParseInLocation(dayLayout, s, loc); err == nil {
			return endOfDay(d), true, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is neither a day (YYYY-MM-DD) nor an RFC 3339 time (2026-12-01T10:00:00Z)", s)
}

// endOfDay is the last nanosecond of the day that starts at d (midnight in
// d's location; a day of a daylight-saving change lasts 23 or 25 hours).
func endOfDay(d time.Time) time.Time {
	y, m, dd := d.Date()
	return time.Date(y, m, dd+1, 0, 0, 0, 0, d.Location()).Add(-time.Nanosecond)
}

// DayName is the name of a day's node: prefix/YYYY-MM-DD.
func DayName(prefix string, day time.Time) string { return prefix + "/" + day.Format(dayLayout) }

// FolderName is the name of a folder under a point's node.
func FolderName(prefix, label, folder string) string { return prefix + "/" + label + "/" + folder }

// checkPath refuses folder paths no live folder could have: empty
// segments, invalid UTF-8, control characters, more than 1,024 bytes.
func checkPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty folder path")
	case len(p) > 1024:
		return fmt.Errorf("folder path longer than 1024 bytes")
	case !utf8.ValidString(p):
		return fmt.Errorf("folder path is not UTF-8")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			return fmt.Errorf("empty segment in folder path %q", p)
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character in folder path %q", p)
		}
	}
	return nil
}

// normPath folds INBOX's case, as the engine does.
func normPath(p string) string {
	if len(p) >= 5 && (len(p) == 5 || p[5] == '/') && strings.EqualFold(p[:5], "INBOX") {
		return "INBOX" + p[5:]
	}
	return p
}

// loginSep separates the user from the time in a point-in-time login.
const loginSep = "+at="

// ParseLogin splits a login of the form USER+at=TIME (alice@example.org+at=2026-12-01T10:00:00Z)
// at its last "+at=". ok is false when login has none (an ordinary login).
// TIME is any form internal/timearg accepts (RFC 3339, YYYY-MM-DD[
// HH:MM[:SS]] and dd/MM/yyyy HH:mm:ss in loc, first, last); an empty user
// or a time in no such form fails with ErrBadName. A nil loc means UTC.
func ParseLogin(login string, loc *time.Location) (user string, at timearg.Point, ok bool, err error) {
	if loc == nil {
		loc = time.UTC
	}
	i := strings.LastIndex(login, loginSep)
	if i < 0 {
		return "", timearg.Point{}, false, nil
	}
	user, spec := login[:i], login[i+len(loginSep):]
	if user == "" {
		return "", timearg.Point{}, true, fmt.Errorf("%w: %q: no user before %q", ErrBadName, login, loginSep)
	}
	at, err = timearg.Parse(spec, loc)
	if err != nil {
		return "", timearg.Point{}, true, fmt.Errorf("%w: login %q: %v", ErrBadName, login, err)
	}
	return user, at, true, nil
}
