package imap

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/internal/dovecottest"
)

// Why tidemark answers a message of the malformed corpus differently
// from Dovecot 2.3, by choice. docs/BENCHMARKS.md ("FETCH answers against
// Dovecot") gives the counts.
const (
	whyDefaultType   = "unusable Content-Type: text/plain, as RFC 2045 5.2 says (Dovecot: \"\" \"\")"
	whyRFC822End     = "a message/rfc822 part ends before the line break of the next delimiter, RFC 2046 5.1.1 (Dovecot counts it in)"
	whyGlobal        = "message/global is read as an enclosed message, RFC 6532 (Dovecot 2.3 does not)"
	why2231          = "an RFC 2231 value that is ASCII is decoded, RFC 9051 7.5.2 (Dovecot passes it on as written)"
	whyUnquoted      = "an unquoted value with spaces or tspecials is kept whole (Dovecot cuts it at the first)"
	whyBrokenList    = "a parameter after a missing or doubled ';' is read (Dovecot drops it, or every parameter)"
	whyFirstField    = "of a field given twice the first counts, as for SEARCH and SORT (Dovecot: the last)"
	whyDisposition   = "an unusable Content-Disposition is NIL or as written (Dovecot: \"\")"
	whyOpenQuote     = "an unterminated quoted value runs to the end of the field (Dovecot drops it)"
	whyNoMIMEVersion = "Content-* fields count without MIME-Version (Dovecot ignores them when Content-Type is absent too)"
	whyLongBoundary  = "a boundary over 70 characters is compared whole (Dovecot compares a prefix)"
	whyWhiteSpace    = "white space around Date and Message-ID is trimmed (Dovecot keeps it)"
	whyAddress       = "a broken address list is read on (Dovecot stops at the error or adds placeholders)"
)

var dovecotFetchDifferences = map[string][]string{
	"cpython__msg_14.eml":                                                        {whyDefaultType},
	"cpython__msg_32.eml":                                                        {why2231},
	"cpython__msg_33.eml":                                                        {why2231},
	"dovecot-via-stalwart__malformed_016.eml":                                    {whyLongBoundary},
	"dovecot-via-stalwart__malformed_017.eml":                                    {whyDefaultType},
	"dovecot-via-stalwart__malformed_019.eml":                                    {whyFirstField},
	"dovecot-via-stalwart__malformed_022.eml":                                    {whyRFC822End},
	"dovecot-via-stalwart__thirdparty_015.eml":                                   {whyRFC822End},
	"enmime__mail_inlinemultipart.eml":                                           {whyFirstField},
	"enmime__mail_mime-bad-content-type.eml":                                     {whyDefaultType},
	"enmime__mail_mime-blank-media-name.eml":                                     {whyDefaultType},
	"enmime__mail_mime-unquoted-tspecials-param.eml":                             {whyUnquoted},
	"enmime__parts_barren-content-type.eml":                                      {whyDefaultType},
	"enmime__parts_ctype-invalid-characters.eml":                                 {whyDefaultType},
	"enmime__parts_empty-ctype-bad-content.eml":                                  {whyDefaultType},
	"enmime__parts_missing-closing-param-quote.eml":                              {whyOpenQuote},
	"enmime__parts_unquoted-ctype-param-special.eml":                             {whyUnquoted},
	"flanker__enclosed-bad-encoding.eml":                                         {whyRFC822End},
	"flanker__enclosed-endless.eml":                                              {whyRFC822End},
	"flanker__enclosed-global.eml":                                               {whyGlobal},
	"flanker__enclosed.eml":                                                      {whyRFC822End},
	"flanker__torture-part.eml":                                                  {whyRFC822End, whyWhiteSpace},
	"flanker__torture.eml":                                                       {whyRFC822End, whyWhiteSpace},
	"mikel-mail__attachment_emails_attachment_with_unquoted_name.eml":            {whyUnquoted},
	"mikel-mail__error_emails_bad_subject.eml":                                   {whyWhiteSpace},
	"mikel-mail__error_emails_missing_body.eml":                                  {whyAddress},
	"mikel-mail__error_emails_missing_content_disposition.eml":                   {whyDisposition},
	"mikel-mail__error_emails_multiple_invalid_content_dispositions.eml":         {whyDisposition},
	"mikel-mail__error_emails_weird_to_header.eml":                               {whyAddress},
	"mikel-mail__mime_emails_raw_email_with_binary_encoded.eml":                  {whyUnquoted, whyFirstField},
	"mikel-mail__mime_emails_raw_email_with_illegal_boundary.eml":                {whyUnquoted},
	"mikel-mail__mime_emails_raw_email_with_multipart_mixed_quoted_boundary.eml": {whyFirstField},
	"mikel-mail__plain_emails_mix_caps_content_type.eml":                         {whyAddress},
	"mikel-mail__plain_emails_raw_email_bad_time.eml":                            {whyUnquoted},
	"mikel-mail__plain_emails_raw_email_multiple_from.eml":                       {whyAddress},
	"mikel-mail__plain_emails_raw_email_with_at_display_name.eml":                {whyAddress},
	"mikel-mail__rfc2822_example11.eml":                                          {whyAddress},
	"mime4j-mimetools__double-semicolon.eml":                                     {whyBrokenList},
	"mime4j-mimetools__multi-digest.eml":                                         {whyDefaultType},
	"mime4j__basic-plain-with-bad-header-separator.eml":                          {whyWhiteSpace},
	"mime4j__very-long-boundary.eml":                                             {whyLongBoundary},
	"mime4j__very-very-long-boundary.eml":                                        {whyLongBoundary},
	"mimekit-mbox__content-length.mbox#0":                                        {whyBrokenList},
	"mimekit-mbox__content-length.mbox#3":                                        {whyAddress},
	"mimekit__messages_feedback-report.eml":                                      {whyAddress},
	"mimekit__messages_issue358.eml":                                             {whyAddress},
	"mimekit__messages_missing-subtype.eml":                                      {whyDefaultType},
	"php-mime-mail-parser__issue133.eml":                                         {whyUnquoted},
	"php-mime-mail-parser__issue274.eml":                                         {whyRFC822End},
	"spamassassin-t__nice_cjk_big5-base64.1.eml":                                 {whyFirstField},
	"spamassassin-t__spam_003.eml":                                               {whyNoMIMEVersion},
	"spamassassin-t__spam_badctype1.eml":                                         {whyDefaultType},
	"spamassassin-t__spam_dmarc_quarko.eml":                                      {whyFirstField},
	"spamassassin-t__spam_dmarc_rejectko.eml":                                    {whyFirstField},
	"spamassassin-t__spam_utf16.eml":                                             {whyUnquoted},
	"stalwart-rfc__001.eml":                                                      {whyBrokenList},
	"stalwart-rfc__008.eml":                                                      {whyRFC822End},
}

// TestDovecotFetchCorpus loads the malformed corpus, its mbox files cut
// into messages, into tidemark (APPEND) and a real Dovecot (maildir files
// of the same bytes), asks both for
// BODYSTRUCTURE, BODY and ENVELOPE of every message over sockets, and
// compares the answers (strings compared by value, quoted or literal).
// A message that differs must be listed in dovecotFetchDifferences with
// the reason; one listed that no longer differs is reported so the list
// stays true. Skipped without Dovecot or the corpus.
func TestDovecotFetchCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the whole malformed corpus into two servers")
	}
	dir := corpusDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .eml files in %s: %v", dir, err)
	}
	// The mbox files hold Dovecot's imaptest mailboxes (the FETCH,
	// SEARCH, SORT and THREAD cases) and MimeKit's.
	mboxes, err := filepath.Glob(filepath.Join(dir, "mbox", "*.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	dv := dovecottest.Start(t)
	type message struct {
		name string
		raw  []byte
	}
	var msgs []message
	byDigest := map[[32]byte]string{}
	add := func(name string, raw []byte) {
		if raw = crlf(raw); len(raw) == 0 {
			return
		}
		// Both servers send NUL in BODY[] as 0x80. A message whose bytes
		// another has is loaded once.
		d := sha256.Sum256(bytes.ReplaceAll(raw, []byte{0}, []byte{0x80}))
		if _, dup := byDigest[d]; dup {
			return
		}
		byDigest[d] = name
		msgs = append(msgs, message{name, raw})
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		add(filepath.Base(f), raw)
	}
	for _, f := range mboxes {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range splitMbox(raw) {
			add(fmt.Sprintf("%s#%d", filepath.Base(f), i), m)
		}
	}
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dv.MailDir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range msgs {
		name := filepath.Join(dv.MailDir, "cur", fmt.Sprintf("%d.M%dP1.corpus:2,", 1000000+i, i))
		if err := os.WriteFile(name, m.raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dv.Chown(t, filepath.Dir(dv.MailDir))
	env := newEnv(t, nil)
	env.account("alice@example.com", 0)
	c := env.login("alice@example.com", nil)
	for _, m := range msgs {
		appendMsg(t, c, "INBOX", m.raw, nil)
	}

	tc, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	dc, err := tls.Dial("tcp", dv.Addr, dv.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	answers := func(s *dsess) map[string]map[string]string {
		if r := s.cmd("EXAMINE INBOX"); r.status != "OK" {
			t.Fatalf("%s: EXAMINE: %s", s.name, r.tagged)
		}
		out := map[string]map[string]string{}
		for i := range msgs {
			items := map[string]string{}
			var body []byte
			for _, q := range []string{"BODY.PEEK[] BODYSTRUCTURE ENVELOPE", "BODY"} {
				r := s.cmd("FETCH %d (%s)", i+1, q)
				for _, l := range r.untagged {
					if !strings.HasPrefix(l, "* "+strconv.Itoa(i+1)+" FETCH ") {
						continue
					}
					v, _ := parseIMAPValue(l[strings.Index(l, "FETCH ")+6:])
					list, _ := v.([]any)
					for j := 0; j+1 < len(list); j += 2 {
						name, _ := list[j].(imapAtom)
						if name == "BODY[]" {
							s, _ := list[j+1].(imapString)
							body = []byte(s)
							continue
						}
						items[string(name)] = canonIMAP(list[j+1])
					}
				}
			}
			name, ok := byDigest[sha256.Sum256(body)]
			if !ok {
				t.Fatalf("%s: message %d: BODY[] is none of the corpus messages", s.name, i+1)
			}
			out[name] = items
		}
		return out
	}
	tm := answers(dialSess(t, "t", tc, "alice@example.com", testPassword))
	dvAns := answers(dialSess(t, "d", dc, dv.User, dv.Password))
	differ := 0
	for _, m := range msgs {
		var items []string
		for _, it := range []string{"BODYSTRUCTURE", "BODY", "ENVELOPE"} {
			a, b := tm[m.name][it], dvAns[m.name][it]
			if a == "" || b == "" {
				t.Errorf("%s: %s missing (tidemark %q, Dovecot %q)", m.name, it, a, b)
			}
			if a != b {
				items = append(items, fmt.Sprintf("%s\n  tidemark %.600s\n  dovecot  %.600s", it, a, b))
			}
		}
		_, listed := dovecotFetchDifferences[m.name]
		switch {
		case len(items) > 0 && !listed:
			t.Errorf("%s answers differently from Dovecot, for no listed reason: %s", m.name, strings.Join(items, "\n"))
		case len(items) == 0 && listed:
			t.Errorf("%s now answers as Dovecot does: take it out of dovecotFetchDifferences", m.name)
		}
		if len(items) > 0 {
			differ++
		}
	}
	t.Logf("%d of %d messages answered as Dovecot does; %d differ", len(msgs)-differ, len(msgs), differ)
}

// splitMbox cuts an mbox at its "From " lines (at the start or after an
// empty line), leaving out those lines and the empty line before each.
func splitMbox(b []byte) [][]byte {
	var out [][]byte
	var cur []byte
	started, prevEmpty := false, true
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i+1], b[i+1:]
		} else {
			b = nil
		}
		if prevEmpty && bytes.HasPrefix(line, []byte("From ")) {
			if started {
				out = append(out, trimSeparator(cur))
			}
			cur, started, prevEmpty = nil, true, false
			continue
		}
		cur = append(cur, line...)
		prevEmpty = len(bytes.TrimRight(line, "\r\n")) == 0
	}
	if started {
		out = append(out, trimSeparator(cur))
	}
	return out
}

func trimSeparator(m []byte) []byte {
	if bytes.HasSuffix(m, []byte("\n\r\n")) {
		return m[:len(m)-2]
	}
	if bytes.HasSuffix(m, []byte("\n\n")) {
		return m[:len(m)-1]
	}
	return m
}

// imapAtom and imapString are the leaves parseIMAPValue returns (NIL and
// numbers are atoms); lists are []any.
type (
	imapAtom   string
	imapString string
)

// parseIMAPValue reads one value of a response line whose literals are
// inline ("{n}\r\n" and n bytes), as dsess.readLine returns them.
func parseIMAPValue(s string) (any, string) {
	s = strings.TrimLeft(s, " \r\n")
	if s == "" {
		return nil, ""
	}
	switch s[0] {
	case '(':
		list := []any{}
		s = s[1:]
		for {
			s = strings.TrimLeft(s, " \r\n")
			if s == "" {
				return list, ""
			}
			if s[0] == ')' {
				return list, s[1:]
			}
			var v any
			v, s = parseIMAPValue(s)
			list = append(list, v)
		}
	case '"':
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		return imapString(b.String()), s[min(i+1, len(s)):]
	case '{', '~':
		if s[0] == '~' {
			s = s[1:]
		}
		e := strings.IndexByte(s, '}')
		n, err := strconv.Atoi(s[1:max(e, 1)])
		if e < 0 || err != nil || e+3+n > len(s) {
			return imapAtom(s), ""
		}
		s = s[e+3:]
		return imapString(s[:n]), s[n:]
	}
	i, depth := 0, 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '[' {
			depth++
		} else if c == ']' {
			depth--
		} else if depth == 0 && (c == ' ' || c == '(' || c == ')' || c == '\r' || c == '\n') {
			break
		}
	}
	return imapAtom(s[:i]), s[i:]
}

// canonIMAP writes a value with every string quoted, so a quoted string
// and a literal of the same bytes compare equal.
func canonIMAP(v any) string {
	switch v := v.(type) {
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = canonIMAP(x)
		}
		return "(" + strings.Join(parts, " ") + ")"
	case imapString:
		return strconv.Quote(string(v))
	case imapAtom:
		return strings.ToUpper(string(v))
	}
	return fmt.Sprint(v)
}
