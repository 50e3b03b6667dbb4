package lmtp

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Limits from RFC 5321 section 4.5.3.1.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxPath      = 256
)

// errBadAddress is returned by normalizeAddress for a path that cannot name
// a mailbox; the session answers it with 501 5.1.3 (RCPT) or 5.1.7 (MAIL).
var errBadAddress = errors.New("lmtp: bad address")

// normalizeAddress checks an envelope address as go-smtp hands it over
// (brackets and source route removed, a quoted local part unquoted) and
// returns it in the form the engine stores addresses: ASCII letters lowered
// in both parts, the domain without a trailing dot. The engine's lookup is
// case-insensitive anyway; lowering here makes Delivered-To and the log
// stable. It refuses control characters, invalid UTF-8, empty parts, an
// address literal as domain, and parts longer than RFC 5321 allows.
func normalizeAddress(addr string) (string, error) {
	if len(addr) == 0 || len(addr) > maxPath || !utf8.ValidString(addr) {
		return "", errBadAddress
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", errBadAddress
	}
	local, domain := addr[:at], strings.TrimSuffix(addr[at+1:], ".")
	if len(local) > maxLocalPart || !validLocal(local) {
		return "", errBadAddress
	}
	if len(domain) == 0 || len(domain) > maxDomain || !validDomain(domain) {
		return "", errBadAddress
	}
	return lowerASCII(local) + "@" + lowerASCII(domain), nil
}

// validLocal accepts any printable text: a quoted local part may hold
// spaces and specials, and such a mailbox simply will not be found. Only
// control characters are refused, as they could break a header line.
func validLocal(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// validDomain accepts dot-separated labels of letters, digits, hyphens and
// non-ASCII (internationalised) characters; no empty label, no label that
// starts or ends with a hyphen, no address literal.
func validDomain(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			case r >= 0x80:
			default:
				return false
			}
		}
	}
	return true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// stripSubaddress removes a subaddress ("user+tag@d" → "user@d") when delim
// is set and the local part holds it; ok is false when there is nothing to
// strip. A delimiter that is not valid UTF-8 could cut a character in two
// and never applies.
func stripSubaddress(addr, delim string) (base string, ok bool) {
	if delim == "" || !utf8.ValidString(delim) {
		return "", false
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", false
	}
	i := strings.Index(addr[:at], delim)
	if i <= 0 {
		return "", false
	}
	return addr[:i] + addr[at:], true
}

// formatPath renders an address as an RFC 5322 angle-addr for the
// Return-Path and Delivered-To lines: the local part is quoted when it is
// not a dot-atom, so the header parses back to the same address. addr must
// have passed normalizeAddress (no control characters); "" gives "<>".
func formatPath(addr string) string {
	if addr == "" {
		return "<>"
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if isDotAtom(local) {
		return "<" + addr + ">"
	}
	var b strings.Builder
	b.WriteString(`<"`)
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteString(`"@`)
	b.WriteString(domain)
	b.WriteByte('>')
	return b.String()
}

// isDotAtom reports whether s is an RFC 5322 dot-atom (UTF-8 allowed, as
// RFC 6532 does).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r >= 0x80 {
			continue
		}
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' ||
			strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)) {
			return false
		}
	}
	return true
}
