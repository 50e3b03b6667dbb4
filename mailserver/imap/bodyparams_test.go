package imap

import (
	"strings"
	"testing"
)

// fetchStructure appends msg to a fresh account and returns the raw
// answer to FETCH 1 items.
func fetchStructure(t *testing.T, msg, items string) string {
	t.Helper()
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	appendMsg(t, c, "INBOX", []byte(msg), nil)
	r := env.raw()
	r.cmd("LOGIN alice@example.com %s", testPassword)
	r.cmd("EXAMINE INBOX")
	return strings.Join(r.cmd("FETCH 1 %s", items), "")
}

func wantIn(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("FETCH:\n%s\nwant it to contain %s", out, w)
		}
	}
}

// TestBodyStructureParamOrder: RFC 9051 section 7.5.2 lists body
// parameters as attribute/value pairs; a client that shows or compares
// them sees them in the order the header gives them, as Dovecot lists
// them, not sorted by name. The default charset of a text part goes after
// the parameters the header has.
func TestBodyStructureParamOrder(t *testing.T) {
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; name=\"notes.txt\"; charset=us-ascii\r\n" +
		"Content-Disposition: inline; size=5; filename=notes.txt; creation-date=\"Mon, 2 Jan 2006 15:04:05 +0000\"\r\n\r\nhello\r\n" +
		"--b1\r\nContent-Type: text/plain; format=flowed; delsp=yes\r\n\r\nworld\r\n" +
		"--b1\r\nContent-Type: application/riscos; name=clock.bmp; type=BMP; load=&fff69c4b; exec=&355dd4d1; access=&03\r\n\r\nxyz\r\n" +
		"--b1--\r\n"
	out := fetchStructure(t, msg, "(BODYSTRUCTURE)")
	wantIn(t, out,
		`("text" "plain" ("name" "notes.txt" "charset" "us-ascii") NIL NIL "7bit" 5 0 NIL ("inline" ("size" "5" "filename" "notes.txt" "creation-date" "Mon, 2 Jan 2006 15:04:05 +0000")) NIL NIL)`,
		`("text" "plain" ("format" "flowed" "delsp" "yes" "charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL)`,
		`("application" "riscos" ("name" "clock.bmp" "type" "BMP" "load" "&fff69c4b" "exec" "&355dd4d1" "access" "&03") NIL NIL "7bit" 3 NIL NIL NIL NIL)`,
		`"report" ("report-type" "delivery-status" "boundary" "b1") NIL NIL NIL)`,
	)
}

// TestBodyStructureCaseAsWritten: media types, subtypes, parameter names
// and values and the transfer encoding are case-insensitive for the
// client (RFC 2045 sections 5.1 and 6.1) except values such as a boundary
// or a file name, which are the sender's; they are given as the header
// writes them, as Dovecot gives them. The default charset and encoding
// are written "us-ascii" and "7bit".
func TestBodyStructureCaseAsWritten(t *testing.T) {
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: Multipart/Mixed; Boundary=\"AbC\"\r\n\r\n" +
		"--AbC\r\nContent-Type: TEXT/HTML; CHARSET=ISO-8859-1\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n<p>x</p>\r\n" +
		"--AbC\r\nContent-Type: Application/X-Gzip; NAME=\"Blah.GZ\"\r\n" +
		"Content-Transfer-Encoding: BASE64 (compressed)\r\n" +
		"Content-Disposition: Attachment; FileName=\"Blah.GZ\"\r\n\r\nYWJj\r\n" +
		"--AbC\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8 bit\r\n\r\nz\r\n" +
		"--AbC--\r\n"
	out := fetchStructure(t, msg, "(BODYSTRUCTURE)")
	wantIn(t, out,
		`("TEXT" "HTML" ("CHARSET" "ISO-8859-1") NIL NIL "Quoted-Printable" 8 0 NIL NIL NIL NIL)`,
		`("Application" "X-Gzip" ("NAME" "Blah.GZ") NIL NIL "BASE64" 4 NIL ("Attachment" ("FileName" "Blah.GZ")) NIL NIL)`,
		// "8 bit" is not a token (RFC 2045 section 6.1): the default.
		`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 1 0 NIL NIL NIL NIL)`,
		`"Mixed" ("Boundary" "AbC") NIL NIL NIL)`,
	)
}

// TestBodyStructurePlain7bitDefault: a message that is a single US-ASCII
// text/plain part in 7bit is the default of RFC 2045 section 5.2 and is
// described in the default's words whatever case its header uses, as
// Dovecot describes it; one with anything more keeps its own case.
func TestBodyStructurePlain7bitDefault(t *testing.T) {
	out := fetchStructure(t, "From: a@example.org\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\nContent-Transfer-Encoding: 7BIT\r\n\r\nhi\r\n", "(BODYSTRUCTURE)")
	wantIn(t, out, `BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 1 NIL NIL NIL NIL)`)
	out = fetchStructure(t, "From: a@example.org\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; FORMAT=flowed\r\n\r\nhi\r\n", "(BODYSTRUCTURE)")
	wantIn(t, out, `BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "FORMAT" "flowed") NIL NIL "7bit" 4 1 NIL NIL NIL NIL)`)
}

// TestBodyStructureRFC2231Params: RFC 2231 continuations are joined (section
// 3), whatever order their segments come in; an extended value that is
// ASCII is decoded (section 4, RFC 9051 section 7.5.2), its charset and
// language dropped; one that is not stays in its extended form under
// "name*" with the charset and language, percent-encoded, so it reaches a
// client whose session cannot carry 8-bit strings; a plain segment among
// encoded ones has its '%' escaped. Continued parameters follow the plain
// ones, ordered by name; a parameter whose segments miss an index is not
// joined but listed segment by segment.
func TestBodyStructureRFC2231Params(t *testing.T) {
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: message/external-body; access-type=URL;\r\n" +
		" URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"; URL*0=\"ftp://\"\r\n\r\n" +
		"Content-Type: text/plain\r\n\r\n" +
		"--b\r\nContent-Type: application/x-stuff;\r\n" +
		" title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A; charset=us-ascii\r\n\r\nx\r\n" +
		"--b\r\nContent-Type: application/pdf; name*=utf-8''%E2%82%AC%20rates.pdf\r\n" +
		"Content-Disposition: attachment;\r\n filename*0*=utf-8'de'%E2%82%AC; filename*1=\" 100%.pdf\"; size=3\r\n\r\nabc\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name*0=a; name*2=c\r\n\r\nx\r\n" +
		"--b--\r\n"
	out := fetchStructure(t, msg, "(BODYSTRUCTURE)")
	wantIn(t, out,
		`("message" "external-body" ("access-type" "URL" "URL" "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar")`,
		`("application" "x-stuff" ("charset" "us-ascii" "title" "This is ***fun***") NIL NIL "7bit" 1 NIL NIL NIL NIL)`,
		`("application" "pdf" ("name*" "utf-8''%E2%82%AC%20rates.pdf") NIL NIL "7bit" 3 NIL ("attachment" ("size" "3" "filename*" "utf-8'de'%E2%82%AC 100%25.pdf")) NIL NIL)`,
		`("application" "octet-stream" ("name*0" "a" "name*2" "c") NIL NIL "7bit" 1 NIL NIL NIL NIL)`,
	)
}

// TestBodyStructureLanguageList: body-fld-lang is a list whenever
// Content-Language names a language (RFC 9051 allows a lone string for
// one; Dovecot always sends the list, and so one answer has one shape).
func TestBodyStructureLanguageList(t *testing.T) {
	out := fetchStructure(t, "From: a@example.org\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Language: en-US\r\n\r\nhi\r\n", "(BODYSTRUCTURE)")
	wantIn(t, out, `("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 4 1 NIL NIL ("en-US") NIL)`)
	out = fetchStructure(t, "From: a@example.org\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Language: de, fr\r\n\r\nhi\r\n", "(BODYSTRUCTURE)")
	wantIn(t, out, `NIL NIL ("de" "fr") NIL)`)
}

// TestFetchBodyAndBodyStructure: FETCH answers every item it is asked
// for (RFC 9051 section 6.4.5); BODY and BODYSTRUCTURE in one FETCH are
// two items and both come back, whatever their order.
func TestFetchBodyAndBodyStructure(t *testing.T) {
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\nhi\r\n"
	for _, items := range []string{"(BODYSTRUCTURE BODY)", "(BODY BODYSTRUCTURE)", "(BODY BODYSTRUCTURE BODY)"} {
		out := fetchStructure(t, msg, items)
		wantIn(t, out,
			`BODYSTRUCTURE ("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "7bit" 4 1 NIL NIL NIL NIL)`,
			`BODY ("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "7bit" 4 1)`)
	}
	out := fetchStructure(t, msg, "(BODY)")
	if strings.Contains(out, "BODYSTRUCTURE") {
		t.Errorf("FETCH (BODY) answered BODYSTRUCTURE:\n%s", out)
	}
}
