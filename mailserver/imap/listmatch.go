package imap

import "strings"

// matchList reports whether mailbox name matches LIST's reference and
// pattern (RFC 9051 section 6.3.9): "*" matches anything, "%" anything
// but the hierarchy delimiter. A pattern starting with the delimiter
// ignores the reference; otherwise the reference, ended by a delimiter,
// is prefixed to the pattern.
//
// The match is a dynamic program over (pattern, name) positions, so its
// cost is len(pattern)*len(name) whatever the wildcards, unlike a
// backtracking matcher, which is exponential in their number.
func matchList(name string, delim rune, ref, pattern string) bool {
	d := string(delim)
	if strings.HasPrefix(pattern, d) {
		ref = ""
		pattern = pattern[len(d):]
		name = strings.TrimPrefix(name, d)
	}
	if ref != "" {
		if !strings.HasSuffix(ref, d) {
			ref += d
		}
		if !strings.HasPrefix(name, ref) {
			return false
		}
		name = name[len(ref):]
	}
	return wildMatch(name, pattern, byte(delim))
}

func wildMatch(name, pattern string, delim byte) bool {
	// cur[j]: pattern[:i] matches name[:j].
	cur := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	cur[0] = true
	for i := 0; i < len(pattern); i++ {
		p := pattern[i]
		for j := range next {
			next[j] = false
		}
		switch p {
		case '*', '%':
			// next[j] = exists k<=j with cur[k] and name[k:j] free of
			// the delimiter (for %).
			run := false
			for j := 0; j <= len(name); j++ {
				if p == '%' && j > 0 && name[j-1] == delim {
					run = false
				}
				run = run || cur[j]
				next[j] = run
			}
		default:
			for j := 1; j <= len(name); j++ {
				next[j] = cur[j-1] && name[j-1] == p
			}
		}
		cur, next = next, cur
	}
	return cur[len(name)]
}
