package engine

import "strings"

// BaseSubject extracts the base subject of a Subject field value, as SORT
// SUBJECT and both THREAD algorithms compare it (RFC 5256 section 2.1):
// encoded words decoded, white space collapsed, "Re:", "Fw:", "Fwd:"
// leaders (with [blob]s before or inside them), "(fwd)" trailers and a
// "[fwd: ...]" wrapper removed, and a leading [blob] dropped when
// something is left after it. replyOrForward reports whether a leader,
// trailer or wrapper was removed: THREAD=REFERENCES merges threads on it.
// Base subjects compare with the i;ascii-casemap comparator (asciiFold).
func BaseSubject(subject string) (base string, replyOrForward bool) {
	return baseSubjectDecoded(decodeWords(subject))
}

// baseSubjectDecoded runs steps 1 (white space) to 7 of RFC 5256 section
// 2.1 on a subject whose encoded words are already decoded. It is
// idempotent: its result is its own base subject.
func baseSubjectDecoded(s string) (string, bool) {
	s = collapseSpace(s)
	rf := false
	for {
		// (2) trailers: "(fwd)" and white space.
		for {
			if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else if n := len(s) - len("(fwd)"); n >= 0 && asciiEqualFold(s[n:], "(fwd)") {
				s, rf = s[:n], true
			} else {
				break
			}
		}
		// (3)-(5) leaders and blobs, until neither matches.
		for {
			changed := false
			for {
				if strings.HasPrefix(s, " ") {
					s, changed = s[1:], true
				} else if n := refwdLeader(s); n > 0 {
					s, changed, rf = s[n:], true, true
				} else {
					break
				}
			}
			if n := blobAt(s, 0); n > 0 && n < len(s) {
				s, changed = s[n:], true
			}
			if !changed {
				break
			}
		}
		// (6) "[fwd:" ... "]" around the rest: unwrap and start again.
		if len(s) >= len("[fwd:]") && asciiEqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s, rf = s[5:len(s)-1], true
			continue
		}
		return s, rf
	}
}

// collapseSpace turns tabs and line breaks into spaces and runs of spaces
// into one.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteByte(c)
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

// blobAt returns the length of the subj-blob ("[" *BLOBCHAR "]" *WSP) at
// s[i:], or 0. BLOBCHAR is any character but the brackets and NUL; 8-bit
// text is allowed inside, as decoded subjects carry it.
func blobAt(s string, i int) int {
	if i >= len(s) || s[i] != '[' {
		return 0
	}
	j := i + 1
	for j < len(s) && s[j] != ']' {
		if s[j] == '[' || s[j] == 0 {
			return 0
		}
		j++
	}
	if j >= len(s) {
		return 0
	}
	j++
	for j < len(s) && s[j] == ' ' {
		j++
	}
	return j - i
}

// refwdLeader returns the length of *subj-blob subj-refwd at the start of
// s, where subj-refwd is ("re" / "fw" / "fwd") *WSP [subj-blob] ":", or 0.
func refwdLeader(s string) int {
	i := 0
	for {
		n := blobAt(s, i)
		if n == 0 {
			break
		}
		i += n
	}
	switch {
	case hasPrefixFold(s[i:], "fwd"):
		i += 3
	case hasPrefixFold(s[i:], "fw"), hasPrefixFold(s[i:], "re"):
		i += 2
	default:
		return 0
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	i += blobAt(s, i)
	if i < len(s) && s[i] == ':' {
		return i + 1
	}
	return 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && asciiEqualFold(s[:len(prefix)], prefix)
}

// asciiEqualFold compares under i;ascii-casemap: only a-z fold.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// asciiFold maps a-z to A-Z and leaves every other byte: the i;ascii-casemap
// comparator of RFC 4790, which RFC 5256 SORT and THREAD use.
func asciiFold(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'a' <= c && c <= 'z' {
					b[j] = c - 'a' + 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
