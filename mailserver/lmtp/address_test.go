package lmtp

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeAddress(t *testing.T) {
	good := map[string]string{
		"User@Example.COM":     "user@example.com",
		"u@example.com.":       "u@example.com",
		"first.last@a-b.c":     "first.last@a-b.c",
		"weird name@ex.org":    "weird name@ex.org", // quoted local part, unquoted by go-smtp
		"a@b@example.com":      "a@b@example.com",
		"Ünïcode@bücher.Test":  "Ünïcode@bücher.test",
		"x+tag@example.com":    "x+tag@example.com",
		"under_score@mx_1.org": "under_score@mx_1.org",
	}
	for in, want := range good {
		got, err := normalizeAddress(in)
		if err != nil || got != want {
			t.Errorf("normalizeAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "user", "@example.com", "user@", "user@.", "u@[127.0.0.1]", "u@exa..com",
		"u@-x.com", "u@x-.com", "u\r\n@x.com", "u\x00@x.com", "u@x\x7f.com",
		strings.Repeat("l", 65) + "@x.com", "u@" + strings.Repeat("d", 64) + ".com",
		"u@" + strings.Repeat("d.", 130) + "com", "\xff@x.com",
	}
	for _, in := range bad {
		if got, err := normalizeAddress(in); err == nil {
			t.Errorf("normalizeAddress(%q) = %q, want an error", in, got)
		}
	}
}

func TestFormatPath(t *testing.T) {
	cases := map[string]string{
		"":                  "<>",
		"u@example.com":     "<u@example.com>",
		"a.b+c@example.com": "<a.b+c@example.com>",
		"weird name@ex.org": `<"weird name"@ex.org>`,
		`q"u\o@ex.org`:      `<"q\"u\\o"@ex.org>`,
		".dot@ex.org":       `<".dot"@ex.org>`,
		"a@b@ex.org":        `<"a@b"@ex.org>`,
	}
	for in, want := range cases {
		if got := formatPath(in); got != want {
			t.Errorf("formatPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripSubaddress(t *testing.T) {
	cases := []struct{ in, delim, want string }{
		{"u+tag@x.com", "+", "u@x.com"},
		{"u+a+b@x.com", "+", "u@x.com"},
		{"+tag@x.com", "+", ""},
		{"u@x+y.com", "+", ""},
		{"u+tag@x.com", "", ""},
		{"u-tag@x.com", "-", "u@x.com"},
	}
	for _, c := range cases {
		got, ok := stripSubaddress(c.in, c.delim)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("stripSubaddress(%q, %q) = %q, %v; want %q", c.in, c.delim, got, ok, c.want)
		}
	}
}

// FuzzNormalizeAddress checks what the session relies on: no panic; an
// accepted address is valid UTF-8 with exactly the parts it came with, has
// no control characters or upper-case ASCII, normalises to itself, and
// renders as a single header-safe angle-addr; stripping a subaddress gives
// an address that is accepted too.
func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"User@Example.COM", "a@b@c.d", "weird name@x.org", `q"\@x.y`,
		"u+t@x.com.", "u@[1.2.3.4]", "\xff@x", "", "@", "Ü@ü.de"} {
		f.Add(s, "+")
	}
	f.Fuzz(func(t *testing.T, in, delim string) {
		out, err := normalizeAddress(in)
		if err != nil {
			return
		}
		if !utf8.ValidString(out) || len(out) > len(in) {
			t.Fatalf("normalizeAddress(%q) = %q", in, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 'A' && r <= 'Z') {
				t.Fatalf("normalizeAddress(%q) = %q holds %q", in, out, r)
			}
		}
		if again, err := normalizeAddress(out); err != nil || again != out {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
		p := formatPath(out)
		if !strings.HasPrefix(p, "<") || !strings.HasSuffix(p, ">") || strings.ContainsAny(p, "\r\n") {
			t.Fatalf("formatPath(%q) = %q", out, p)
		}
		if !strings.HasSuffix(p, out[strings.LastIndexByte(out, '@'):]+">") {
			t.Fatalf("formatPath(%q) = %q lost the domain", out, p)
		}
		if base, ok := stripSubaddress(out, delim); ok {
			if _, err := normalizeAddress(base); err != nil {
				t.Fatalf("stripSubaddress(%q, %q) = %q, refused: %v", out, delim, base, err)
			}
		}
	})
}
