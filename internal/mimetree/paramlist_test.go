package mimetree

import (
	"reflect"
	"testing"
)

// TestParamList: parameters in header order and case, RFC 2231 continued
// and extended ones after them (RFC 2231 sections 3 and 4).
func TestParamList(t *testing.T) {
	for _, c := range []struct {
		in    string
		value string
		want  []Param
	}{
		{`Text/Plain; Format=flowed; charset="UTF-8"`, "Text/Plain", []Param{{"Format", "flowed"}, {"charset", "UTF-8"}}},
		{`attachment`, "attachment", nil},
		{`a/b; x="q\"uo;ted"; y=1`, "a/b", []Param{{"x", `q"uo;ted`}, {"y", "1"}}},
		{`a/b; k*1=bar; z=2; k*0="foo"`, "a/b", []Param{{"z", "2"}, {"k", "foobar"}}},
		{`a/b; k*=us-ascii'en'a%20b`, "a/b", []Param{{"k", "a b"}}},
		{`a/b; k*=utf-8''%C3%A9`, "a/b", []Param{{"k*", "utf-8''%C3%A9"}}},
		{`a/b; k*0=x%; k*1*=%C3%A9`, "a/b", []Param{{"k*", "''x%25%C3%A9"}}},
		{`a/b; k*0=x; k*2=z`, "a/b", []Param{{"k*0", "x"}, {"k*2", "z"}}},
		{`a/b; k*x=1; =2; word; j=3`, "a/b", []Param{{"k*x", "1"}, {"j", "3"}}},
		{`a/b; dup=1; dup=2`, "a/b", []Param{{"dup", "1"}, {"dup", "2"}}},
	} {
		v, got := ParamList(c.in)
		if v != c.value || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParamList(%q) = %q %q, want %q %q", c.in, v, got, c.value, c.want)
		}
	}
}

// TestParamListMissingSemicolon: an unquoted value ends where another
// name= follows after white space; without one, it runs to the ';'.
func TestParamListMissingSemicolon(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Param
	}{
		{"message/external-body; access-type=mail-server\t server=\"listserv@bogus.bitnet\"; expiration=x",
			[]Param{{"access-type", "mail-server"}, {"server", "listserv@bogus.bitnet"}, {"expiration", "x"}}},
		{"text/plain; name=This is a test.txt; charset=us-ascii",
			[]Param{{"name", "This is a test.txt"}, {"charset", "us-ascii"}}},
		{"a/b; x=1 y = 2", []Param{{"x", "1"}, {"y", "2"}}},
	} {
		if _, got := ParamList(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParamList(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
