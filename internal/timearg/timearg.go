package timearg

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrSyntax is wrapped by Parse for input in none of the accepted forms.
var ErrSyntax = errors.New("timearg: unrecognized time")

// Point is a parsed time argument: an instant, or one of the open ends
// "first" (the oldest point held) and "last" (the newest).
type Point struct {
	Time  time.Time // zero when First or Last is set
	First bool
	Last  bool
}

// IsZero reports whether p is the zero Point (no argument given).
func (p Point) IsZero() bool { return !p.First && !p.Last && p.Time.IsZero() }

// String renders p back in a form Parse accepts.
func (p Point) String() string {
	switch {
	case p.First:
		return "first"
	case p.Last:
		return "last"
	}
	return p.Time.Format(time.RFC3339Nano)
}

// layouts are tried in order on input without an explicit zone; they are
// read in loc.
var layouts = []string{
	"2006-01-02",
	"2006-01-02 15:04",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05.999999999",
	"02/01/2006 15:04:05", // the administration guide's dd/MM/yyyy HH:mm:ss
	"02/01/2006 15:04",
	"02/01/2006",
}

// Parse reads s as a point in time. Accepted, after trimming spaces:
//
//	first, last                       (any case)
//	2025-03-01T10:00:00Z              RFC 3339, with zone or offset
//	2025-03-01T10:00:00.5+02:00       RFC 3339 with fraction
//	2025-03-01                        midnight in loc
//	2025-03-01 10:00[:05]             in loc
//	01/03/2025 10:00:05               dd/MM/yyyy HH:mm:ss, in loc
//
// A nil loc means time.Local. The returned time keeps the zone it was read
// in; compare with Before/After/Equal, not ==.
func Parse(s string, loc *time.Location) (Point, error) {
	if loc == nil {
		loc = time.Local
	}
	in := strings.TrimSpace(s)
	switch strings.ToLower(in) {
	case "first":
		return Point{First: true}, nil
	case "last":
		return Point{Last: true}, nil
	case "":
		return Point{}, fmt.Errorf("%w: empty", ErrSyntax)
	}
	if t, err := time.Parse(time.RFC3339Nano, in); err == nil {
		return Point{Time: t}, nil
	}
	for _, layout := range layouts {
		if t, err := time.ParseInLocation(layout, in, loc); err == nil {
			return Point{Time: t}, nil
		}
	}
	return Point{}, fmt.Errorf("%w: %q (want RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], dd/MM/yyyy HH:mm:ss, first or last)", ErrSyntax, s)
}
