package main

import "testing"

func TestSummaryHeaders(t *testing.T) {
	for _, tc := range []struct{ msg, from, subject string }{
		{"From: a@b.c\r\nSubject: hello\r\n\r\nbody", "a@b.c", "hello"},
		{"From: =?UTF-8?Q?J=C3=BCrgen?= <j@x.y>\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\n\nbody", "Jürgen <j@x.y>", "Grüße"},
		{"Subject: folded\r\n  line\r\n\r\n", "", "folded line"},
		{"no headers at all", "", ""},
		{"", "", ""},
	} {
		f, s := summaryHeaders([]byte(tc.msg))
		if f != tc.from || s != tc.subject {
			t.Errorf("%q: got (%q, %q), want (%q, %q)", tc.msg, f, s, tc.from, tc.subject)
		}
	}
}
