package imap

import (
	"strings"
	"testing"
)

// TestBodyStructureReusedBoundary: a nested multipart that reuses the
// boundary of the one enclosing it (RFC 2046 section 5.1.2 forbids it;
// Outlook Express for Mac sent it) owns the boundary until its close
// delimiter, then the enclosing multipart goes on: the alternative holds
// the text and HTML, the attachment is the outer multipart's second part,
// as Dovecot reads the message.
func TestBodyStructureReusedBoundary(t *testing.T) {
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed;\r\n   boundary=\"MS_Mac_OE\"\r\n\r\n" +
		"> This message is in MIME format.\r\n\r\n" +
		"--MS_Mac_OE\r\nContent-Type: multipart/alternative;\r\n   boundary=\"MS_Mac_OE\"\r\n\r\n\r\n" +
		"--MS_Mac_OE\r\nContent-Type: text/plain; charset=\"ISO-8859-1\"\r\n\r\nSome text.\r\n\r\n" +
		"--MS_Mac_OE\r\nContent-Type: text/html; charset=\"ISO-8859-1\"\r\n\r\n<p>Some text.</p>\r\n\r\n" +
		"--MS_Mac_OE--\r\n\r\n\r\n" +
		"--MS_Mac_OE\r\nContent-Type: image/gif; name=\"xx.gif\"\r\nContent-Disposition: attachment\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlh\r\n\r\n" +
		"--MS_Mac_OE--\r\n"
	out := fetchStructure(t, msg, "(BODYSTRUCTURE BODY.PEEK[1.2] BODY.PEEK[2])")
	wantIn(t, out,
		`BODYSTRUCTURE ((("text" "plain" ("charset" "ISO-8859-1") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)`+
			`("text" "html" ("charset" "ISO-8859-1") NIL NIL "7bit" 19 1 NIL NIL NIL NIL) "alternative" ("boundary" "MS_Mac_OE") NIL NIL NIL)`+
			`("image" "gif" ("name" "xx.gif") NIL NIL "base64" 10 NIL ("attachment" NIL) NIL NIL) "mixed" ("boundary" "MS_Mac_OE") NIL NIL NIL)`,
		"BODY[1.2] {19}\r\n<p>Some text.</p>\r\n",
		"BODY[2] {10}\r\nR0lGODlh\r\n",
	)
}

// TestBodyStructureBrokenHeaders: how BODYSTRUCTURE reads Content-* fields
// that are broken in the ways real mail breaks them; as Dovecot reads them
// but where a comment says otherwise.
func TestBodyStructureBrokenHeaders(t *testing.T) {
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n" +
		// A media type that is not two RFC 2045 tokens is unusable:
		// text/plain (RFC 2045 section 5.2; Dovecot sends "" "").
		"--o\r\nContent-Type: text/plain>\r\n\r\none\r\n" +
		// Present but empty: "", not NIL; comments are no language.
		"--o\r\nContent-Type: text/plain; charset=utf-8\r\nContent-ID:\r\nContent-Description: \r\n" +
		"Content-Language: en (English), de\r\nContent-Location:\r\n\r\ntwo\r\n" +
		// A parameter whose ';' is missing is a parameter of its own
		// (Dovecot drops it).
		"--o\r\nContent-Type: message/external-body; access-type=mail-server\r\n" +
		"            server=\"listserv@example.net\"; expiration=\"Fri, 14 Jun 1991 19:13:14 -0400\"\r\n\r\n" +
		"Content-Type: text/plain\r\n\r\nget file\r\n" +
		// An enclosed message is named in lower case.
		"--o\r\nContent-Type: Message/RFC822\r\n\r\nSubject: inner\r\n\r\nbody\r\n" +
		// A multipart whose header a delimiter cuts short has no parts;
		// its boundary is listed as written all the same.
		"--o\r\nContent-Type: multipart/mixed; boundary=i\r\n" +
		"--o--\r\n"
	out := fetchStructure(t, msg, "(BODYSTRUCTURE)")
	wantIn(t, out,
		`(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0 NIL NIL NIL NIL)`,
		`("text" "plain" ("charset" "utf-8") "" "" "7bit" 3 0 NIL NIL ("en" "de") "")`,
		`("message" "external-body" ("access-type" "mail-server" "server" "listserv@example.net" "expiration" "Fri, 14 Jun 1991 19:13:14 -0400") NIL NIL "7bit" 36 NIL NIL NIL NIL)`,
		`("message" "rfc822" NIL NIL NIL "7bit" 22 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)`,
		`(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "i") NIL NIL NIL)`,
	)
}

// TestEnvelopeWhiteSpace: ENVELOPE's subject and display names are
// unfolded with every run of white space one space and trimmed, as Dovecot
// sends them for the reader (and as RFC 5256's base subject reads a
// subject); Date, Message-ID and In-Reply-To are
// unfolded as RFC 5322 section 2.2.3 says, the white space after a fold
// kept, and trimmed (Dovecot keeps the white space that starts the
// continuation line of a field whose first line is empty, " <m1@...>",
// though the field unfolds to the same text as "Message-ID: <m1@...>").
func TestEnvelopeWhiteSpace(t *testing.T) {
	msg := "From: \"IQ  - AFM \" <a@example.org>\r\nSubject: Air-Conditioned  Tokyo\r\n\tin\t summer\r\n" +
		"Message-ID:\r\n <m1@example.org>\r\n" +
		"In-Reply-To: <m0@example.org> (Eric's\r\n        message of \"Thu, 20 Feb 2020\")\r\n" +
		"Date: Thu, 20 Feb 2020\r\n 14:46:25 -0600\r\n\r\nbody\r\n"
	out := fetchStructure(t, msg, "(ENVELOPE)")
	wantIn(t, out,
		`ENVELOPE ("Thu, 20 Feb 2020 14:46:25 -0600" "Air-Conditioned Tokyo in summer" (("IQ - AFM" NIL "a" "example.org")) `,
		`NIL "<m0@example.org> (Eric's        message of \"Thu, 20 Feb 2020\")" "<m1@example.org>")`,
	)
	if strings.Contains(out, `" <m1@`) {
		t.Errorf("Message-ID kept the white space before it:\n%s", out)
	}
}

// TestBodyStructureMD5AndEmptyBoundary: a single part's Content-MD5 (RFC
// 1864) is body-fld-md5 of its extension data (RFC 9051 section 7.5.2),
// not NIL; a multipart with boundary="" (outside RFC 2046's grammar, but
// unambiguous) is split at "--" lines, as Dovecot and MimeKit read it.
func TestBodyStructureMD5AndEmptyBoundary(t *testing.T) {
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n" +
		"--\r\nContent-Type: text/plain\r\n\r\nHello world.\r\n" +
		"--\r\nContent-Type: application/x-pkcs7-mime; name=\"eric.p7c\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-MD5: THv54kLXRGIbbpoHJeNKGA==\r\nContent-Disposition: inline; filename=\"eric.p7c\"\r\n\r\nYWJj\r\n" +
		"----\r\n"
	out := fetchStructure(t, msg, "(BODYSTRUCTURE BODY.PEEK[2])")
	wantIn(t, out,
		`BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL)`+
			`("application" "x-pkcs7-mime" ("name" "eric.p7c") NIL NIL "base64" 4 "THv54kLXRGIbbpoHJeNKGA==" ("inline" ("filename" "eric.p7c")) NIL NIL)`+
			` "mixed" ("boundary" "") NIL NIL NIL)`,
		"BODY[2] {4}\r\nYWJj",
	)
}
