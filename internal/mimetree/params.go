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
		if strings.IndexByte(s, '*') >= 0 {
			params = keepExtended(s, params)
		}
		return strings.ToLower(v), params
	}
	v, rest, _ := strings.Cut(s, ";")
	return strings.ToLower(strings.TrimSpace(v)), lenientParams(rest)
}

// keepExtended puts back the RFC 2231 parameters mime.ParseMediaType
// dropped: it decodes only UTF-8 and US-ASCII values and leaves out the
// rest without a word, so filename*=windows-1251'ru'%D0%F3 lost the
// attachment's name and boundary*=x-unknown'en'abc the multipart's parts.
// A value that decodes to ASCII is kept under its plain name (the charset
// does not matter then); any other stays as written under its own name
// ("filename*"), as Dovecot passes it on, for the client to decode.
func keepExtended(s string, params map[string]string) map[string]string {
	_, rest, _ := strings.Cut(s, ";")
	for k, val := range lenientParams(rest) {
		star := strings.IndexByte(k, '*')
		if star <= 0 {
			continue
		}
		base := k[:star]
		if _, ok := params[base]; ok {
			continue // decoded by mime.ParseMediaType
		}
		if params == nil {
			params = make(map[string]string)
		}
		if k == base+"*" {
			if parts := strings.SplitN(val, "'", 3); len(parts) == 3 {
				if d, ok := percentDecode(parts[2]); ok && isASCII(d) {
					params[base] = d
					continue
				}
			}
		}
		params[k] = val
	}
	return params
}

// percentDecode undoes RFC 2231's %XX escapes.
func percentDecode(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// lenientParams reads name=value pairs, quoted or not, of a header value
// after its first ';', names in lower case, the first of a name counting.
func lenientParams(rest string) map[string]string {
	var params map[string]string
	scanParams(rest, func(name, val string) {
		name = strings.ToLower(name)
		if params == nil {
			params = make(map[string]string)
		}
		if _, dup := params[name]; !dup {
			params[name] = val
		}
	})
	return params
}
