package mimetree

import (
	"mime"
	"strings"
)

// ParseValue splits a Content-Type or Content-Disposition value into its
// value (lower case) and parameters (names in lower case). Well-formed
// values go through mime.ParseMediaType, which also joins RFC 2231
// continuations; anything else is read leniently (value up to the first
// ';', then name=value pairs, quoted or not), so a message with a slightly
// broken header still shows its boundary, charset and file name. The work
// is linear in len(s).
func ParseValue(s string) (string, map[string]string) {
	if v, params, err := mime.ParseMediaType(s); err == nil {
		return strings.ToLower(v), params
	}
	v, rest, _ := strings.Cut(s, ";")
	v = strings.ToLower(strings.TrimSpace(v))
	var params map[string]string
	for rest != "" {
		rest = strings.TrimLeft(rest, "; \t")
		if rest == "" {
			break
		}
		var name string
		i := strings.IndexAny(rest, "=;")
		if i < 0 {
			break // a trailing word without value
		}
		name = strings.ToLower(strings.TrimSpace(rest[:i]))
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
			val = strings.TrimSpace(rest[:k])
			rest = rest[k:]
		}
		if name == "" {
			continue
		}
		if params == nil {
			params = make(map[string]string)
		}
		if _, dup := params[name]; !dup {
			params[name] = val
		}
	}
	return v, params
}
