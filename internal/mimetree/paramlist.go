package mimetree

import (
	"sort"
	"strconv"
	"strings"
)

// Param is one parameter of a Content-Type or Content-Disposition value,
// its name and value as the header writes them (quotes and escapes
// removed).
type Param struct {
	Name, Value string
}

// ParamList reads a Content-Type or Content-Disposition value for display,
// as IMAP's BODYSTRUCTURE lists it: the value before the first ';' as
// written (trimmed), and the parameters in the order of the header, names
// and values in the case they are written in (RFC 2045 section 5.1 makes
// names case-insensitive, so a client compares them that way; a value such
// as a boundary is case-sensitive and must not change).
//
// Parameters in RFC 2231's form follow the plain ones, ordered by name:
// continuations (name*0, name*1, ...) may come in any order (RFC 2231
// section 3), so they have no place of their own in the header. Their
// segments are joined. An extended value (name*=charset'language'value)
// whose octets are all ASCII is given decoded (RFC 9051 section 7.5.2 asks
// servers to decode) under its plain name: IMAP4rev1 clients read a
// "name*" value as still encoded, as Dovecot sends it. Any other stays in
// its extended form under "name*", percent-encoded, so a session that
// cannot carry 8-bit strings still receives it and the client decodes it,
// as Dovecot passes it on. (RFC 9051 would have a session that enabled
// IMAP4rev2 get it decoded to UTF-8 under "name*"; Dovecot 2.3 does not,
// and neither does this yet.) A continued parameter with a missing or
// repeated index is not joined: its segments are listed one by one under
// their own names.
func ParamList(s string) (string, []Param) {
	v, rest, _ := strings.Cut(s, ";")
	var out []Param
	type seg struct {
		key      string // name as written, without the '*' suffix
		idx      int
		extended bool
		value    string
	}
	var segs []seg
	scanParams(rest, func(name, value string) {
		if star := strings.IndexByte(name, '*'); star > 0 {
			suffix := name[star+1:]
			s := seg{key: name[:star], value: value}
			digits := strings.TrimRight(suffix, "*")
			switch {
			case suffix == "":
				s.extended = true
			case digits != "" && isDigits(digits) && len(suffix)-len(digits) <= 1:
				n, err := strconv.Atoi(digits)
				if err != nil {
					n = -1 // absurdly long: never a valid index
				}
				s.idx, s.extended = n, len(suffix) > len(digits)
			default:
				out = append(out, Param{name, value})
				return
			}
			segs = append(segs, s)
			return
		}
		out = append(out, Param{name, value})
	})
	if len(segs) == 0 {
		return strings.TrimSpace(v), out
	}
	sort.SliceStable(segs, func(i, j int) bool {
		ki, kj := strings.ToLower(segs[i].key), strings.ToLower(segs[j].key)
		if ki != kj {
			return ki < kj
		}
		return segs[i].idx < segs[j].idx
	})
	for i := 0; i < len(segs); {
		j, ok, ext := i, true, false
		for ; j < len(segs) && strings.EqualFold(segs[j].key, segs[i].key); j++ {
			if segs[j].idx != j-i {
				ok = false
			}
			ext = ext || segs[j].extended
		}
		group := segs[i:j]
		i = j
		if !ok {
			for _, s := range group {
				name := s.key + "*" + strconv.Itoa(s.idx)
				if s.extended {
					name += "*"
				}
				out = append(out, Param{name, s.value})
			}
			continue
		}
		var b strings.Builder
		if ext && !group[0].extended {
			b.WriteString("''")
		}
		for _, s := range group {
			if ext && !s.extended {
				// A plain segment among encoded ones: its '%' is a
				// character, not an escape.
				b.WriteString(strings.ReplaceAll(s.value, "%", "%25"))
			} else {
				b.WriteString(s.value)
			}
		}
		key, joined := group[0].key, b.String()
		if !ext {
			out = append(out, Param{key, joined})
			continue
		}
		if parts := strings.SplitN(joined, "'", 3); len(parts) == 3 {
			if d, ok := percentDecode(parts[2]); ok && isASCII(d) {
				out = append(out, Param{key, d})
				continue
			}
		}
		out = append(out, Param{key + "*", joined})
	}
	return strings.TrimSpace(v), out
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scanParams calls f for each name=value pair, quoted or not, of a header
// value after its first ';', in order, as written (names trimmed, quotes
// and backslash escapes removed). An unquoted value runs to the next ';',
// so a file name with spaces that was not quoted is kept whole, unless
// another name= follows it after white space: the ';' between them is
// missing. A word without '=' and a pair without a name are skipped. The
// work is linear in len(rest).
func scanParams(rest string, f func(name, value string)) {
	for rest != "" {
		rest = strings.TrimLeft(rest, "; \t")
		if rest == "" {
			break
		}
		i := strings.IndexAny(rest, "=;")
		if i < 0 {
			break // a trailing word without value
		}
		name := strings.TrimSpace(rest[:i])
		if rest[i] == ';' {
			rest = rest[i:]
			continue
		}
		rest = strings.TrimLeft(rest[i+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
				}
				b.WriteByte(rest[j])
			}
			val = b.String()
			rest = rest[min(j+1, len(rest)):]
			if k := strings.IndexByte(rest, ';'); k >= 0 {
				rest = rest[k:]
			} else {
				rest = ""
			}
		} else {
			k := strings.IndexByte(rest, ';')
			if k < 0 {
				k = len(rest)
			}
			v, next := cutBeforeParam(rest[:k])
			val = strings.TrimSpace(v)
			rest = next + rest[k:]
		}
		if name != "" {
			f(name, val)
		}
	}
}

// cutBeforeParam splits an unquoted value where, after white space, a
// token and '=' start another parameter ("mail-server server=x"); rest is
// "" when none does.
func cutBeforeParam(v string) (val, rest string) {
	for i := 0; i < len(v); i++ {
		if v[i] != ' ' && v[i] != '\t' {
			continue
		}
		j := i
		for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
			j++
		}
		k := j
		for k < len(v) && isTokenChar(v[k]) {
			k++
		}
		e := k
		for e < len(v) && (v[e] == ' ' || v[e] == '\t') {
			e++
		}
		if k > j && e < len(v) && v[e] == '=' {
			return v[:i], v[j:]
		}
		i = j - 1
	}
	return v, ""
}
