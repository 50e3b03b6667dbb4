package engine

import (
	"sort"
	"strings"
	"time"
)

// System flags, canonical spelling.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
	FlagRecent   = `\Recent`
)

var systemFlags = map[string]string{
	`\seen`: FlagSeen, `\answered`: FlagAnswered, `\flagged`: FlagFlagged,
	`\deleted`: FlagDeleted, `\draft`: FlagDraft, `\recent`: FlagRecent,
}

// canonFlags canonicalises system flags (`\seen` -> `\Seen`), keeps
// keywords as given, drops \Recent (never stored) and duplicates, and sorts
// the result so equal sets are equal slices. A flag with a space, control
// character, parenthesis or an unknown backslash name is invalid.
func canonFlags(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, f := range in {
		if f == "" {
			return nil, invalidf("empty flag")
		}
		for _, r := range f {
			if r <= ' ' || r == 0x7f || r == '(' || r == ')' || r == '{' || r == '"' || r == '%' || r == '*' || r == ']' {
				return nil, invalidf("flag %q", f)
			}
		}
		if strings.HasPrefix(f, `\`) {
			c, ok := systemFlags[strings.ToLower(f)]
			if !ok {
				return nil, invalidf("unknown system flag %q", f)
			}
			f = c
			if f == FlagRecent {
				continue
			}
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// FlagOp says how StoreFlags combines the given flags with an item's.
type FlagOp int

// Flag operations.
const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// applyFlagOp returns the new sorted flag set.
func applyFlagOp(cur []string, op FlagOp, flags []string) []string {
	m := map[string]bool{}
	if op != FlagsSet {
		for _, f := range cur {
			m[f] = true
		}
	}
	for _, f := range flags {
		if op == FlagsRemove {
			delete(m, f)
		} else {
			m[f] = true
		}
	}
	out := make([]string, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

func equalFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fromNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }
