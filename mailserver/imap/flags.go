package imap

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// systemFlags are the RFC 9051 system flags in canonical case. \Recent is
// not stored and never offered.
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// canonFlag returns a system flag in its canonical case (\seen → \Seen)
// and anything else unchanged: keywords are case-preserving.
func canonFlag(f string) string {
	if strings.HasPrefix(f, `\`) {
		for _, s := range systemFlags {
			if strings.EqualFold(f, string(s)) {
				return string(s)
			}
		}
	}
	return f
}

// toEngineFlags canonicalises and de-duplicates client flags, dropping
// \Recent, which is session state and never stored.
func toEngineFlags(in []imap.Flag) []string {
	out := make([]string, 0, len(in))
	for _, f := range in {
		s := canonFlag(string(f))
		if strings.EqualFold(s, `\Recent`) || containsFold(out, s) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// toIMAPFlags converts stored flags for the wire, in canonical case and
// dropping anything that is not a valid flag atom.
func toIMAPFlags(in []string) []imap.Flag {
	out := make([]imap.Flag, 0, len(in))
	for _, f := range in {
		f = canonFlag(f)
		if !validFlag(f) {
			continue
		}
		out = append(out, imap.Flag(f))
	}
	return out
}

// isKeyword reports whether f is a keyword (not a system flag).
func isKeyword(f string) bool { return !strings.HasPrefix(f, `\`) }

// validFlag reports whether f can be written as a flag on the wire: an
// atom, optionally preceded by one backslash (RFC 9051 flag-keyword,
// flag-extension).
func validFlag(f string) bool {
	f = strings.TrimPrefix(f, `\`)
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '(', ')', '{', '%', '*', '"', '\\', ']':
			return false
		}
	}
	return true
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func hasFlag(flags []string, f imap.Flag) bool {
	return containsFold(flags, string(f))
}

// flagSet is the FLAGS a session has announced for its selected folder:
// the system flags plus every keyword seen so far.
type flagSet struct {
	keywords map[string]struct{} // lower case → present
	list     []imap.Flag
}

func newFlagSet() *flagSet {
	return &flagSet{keywords: make(map[string]struct{}), list: append([]imap.Flag(nil), systemFlags...)}
}

// add records the keywords in flags and reports whether any was new.
func (s *flagSet) add(flags []string) bool {
	added := false
	for _, f := range flags {
		if !isKeyword(f) || !validFlag(f) {
			continue
		}
		k := strings.ToLower(f)
		if _, ok := s.keywords[k]; ok {
			continue
		}
		s.keywords[k] = struct{}{}
		s.list = append(s.list, imap.Flag(f))
		added = true
	}
	if added {
		sys := s.list[:len(systemFlags)]
		kw := s.list[len(systemFlags):]
		sort.Slice(kw, func(i, j int) bool { return kw[i] < kw[j] })
		s.list = append(sys, kw...)
	}
	return added
}

// spelling returns the folder's existing spelling of keyword f, so that
// keywords, which IMAP compares case-insensitively, are not stored twice
// in different cases and -FLAGS removes them whatever the case.
func (s *flagSet) spelling(f string) string {
	if !isKeyword(f) {
		return f
	}
	lf := strings.ToLower(f)
	for _, k := range s.list[len(systemFlags):] {
		if strings.ToLower(string(k)) == lf {
			return string(k)
		}
	}
	return f
}

// flags returns the announced FLAGS list.
func (s *flagSet) flags() []imap.Flag { return append([]imap.Flag(nil), s.list...) }

// permanent returns PERMANENTFLAGS: the announced flags plus \* (clients
// may create keywords).
func (s *flagSet) permanent() []imap.Flag { return append(s.flags(), imap.FlagWildcard) }

// flagsLine renders an untagged FLAGS response; every flag has passed
// validFlag, so each is one atom.
func flagsLine(flags []imap.Flag) []byte {
	b := []byte("* FLAGS (")
	for i, f := range flags {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	return append(b, ")\r\n"...)
}
