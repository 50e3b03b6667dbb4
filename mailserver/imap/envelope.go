package imap

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// envelope builds FETCH ENVELOPE from a message's header (RFC 9051
// section 7.5.2). Date, subject and message ids come from go-imap's
// extractor; the address lists are parsed here because it drops groups:
// "undisclosed-recipients:;" must come back as the group markers
// (NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL), not NIL. An
// absent or empty Sender or Reply-To is the From list, as the RFC asks.
func envelope(raw []byte) *imap.Envelope {
	env := &imap.Envelope{}
	guard(func() {
		h, _ := splitMessage(raw)
		hdr, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(h)))
		if err != nil && hdr.Len() == 0 {
			return
		}
		env = extractEnvelope(hdr)
		env.From = addressList(hdr.Get("From"))
		env.Sender = addressList(hdr.Get("Sender"))
		env.ReplyTo = addressList(hdr.Get("Reply-To"))
		env.To = addressList(hdr.Get("To"))
		env.Cc = addressList(hdr.Get("Cc"))
		env.Bcc = addressList(hdr.Get("Bcc"))
		if len(env.Sender) == 0 {
			env.Sender = env.From
		}
		if len(env.ReplyTo) == 0 {
			env.ReplyTo = env.From
		}
	})
	return env
}

var wordDecoder = new(mime.WordDecoder)

// addressList parses an RFC 5322 address-list. Groups become a start
// marker (the group name as mailbox, no host), their members and an end
// marker. Items that do not parse are left out, as are addresses without
// a domain, which ENVELOPE cannot tell from group markers.
func addressList(v string) []imap.Address {
	var out []imap.Address
	add := func(seg string) {
		if strings.TrimSpace(seg) == "" {
			return
		}
		p := mail.AddressParser{WordDecoder: wordDecoder}
		list, err := p.ParseList(seg)
		if err != nil {
			// net/mail takes no comments inside an address
			// (joe(work)@example.org); without them it may parse.
			list, err = p.ParseList(stripComments(seg))
		}
		if err != nil {
			// One bad item must not hide the others.
			for _, item := range splitTop(seg, ',') {
				if a, err := p.Parse(stripComments(item)); err == nil {
					list = append(list, a)
				}
			}
		}
		for _, a := range list {
			mbox, host, ok := strings.Cut(a.Address, "@")
			if !ok || mbox == "" || host == "" {
				continue
			}
			out = append(out, imap.Address{Name: a.Name, Mailbox: mbox, Host: host})
		}
	}
	// Walk the top level: a ':' outside quotes, comments and angle
	// brackets opens a group, the next ';' closes it.
	start, depth, quoted, angle := 0, 0, false, false
	group := ""
	inGroup := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			i++
		case quoted:
			quoted = c != '"'
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case c == ':' && !inGroup:
			add(v[start:lastComma(v[:i], start)])
			group = phrase(v[lastComma(v[:i], start):i])
			inGroup, start = true, i+1
		case c == ';' && inGroup:
			out = append(out, imap.Address{Mailbox: group})
			add(v[start:i])
			out = append(out, imap.Address{})
			inGroup, start = false, i+1
		}
	}
	if inGroup {
		// An unterminated group still ends with the message.
		out = append(out, imap.Address{Mailbox: group})
		add(v[start:])
		out = append(out, imap.Address{})
	} else {
		add(v[start:])
	}
	return out
}

// lastComma returns the index just after the last top-level comma of
// v[from:] (or from): where the group's display name starts.
func lastComma(v string, from int) int {
	items := splitTop(v[from:], ',')
	n := len(v) - len(items[len(items)-1])
	return max(n, from)
}

// splitTop splits s at sep outside quotes, comments and angle brackets.
func splitTop(s string, sep byte) []string {
	var out []string
	start, depth, quoted, angle := 0, 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			i++
		case quoted:
			quoted = c != '"'
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == sep && !angle:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// phrase turns a display-name phrase into text: comments dropped, quotes
// removed, encoded words decoded, white space collapsed.
func phrase(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (quoted || depth > 0):
			i++
			if depth == 0 {
				b.WriteByte(s[i])
			}
		case quoted:
			if c == '"' {
				quoted = false
			} else {
				b.WriteByte(c)
			}
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		default:
			b.WriteByte(c)
		}
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	if d, err := wordDecoder.DecodeHeader(out); err == nil {
		out = d
	}
	return out
}

// stripComments removes RFC 5322 comments outside quoted strings and the
// white space around '@', which net/mail does not accept inside an
// address.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (quoted || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case quoted:
			quoted = c != '"'
			b.WriteByte(c)
		case c == '"' && depth == 0:
			quoted = true
			b.WriteByte(c)
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	for _, sp := range []string{" @", "@ ", "\t@", "@\t"} {
		out = strings.ReplaceAll(out, sp, "@")
	}
	return out
}

// extractEnvelope reads the envelope fields other than the address lists
// (which addressList parses, groups included): date, subject (RFC 2047
// decoded), In-Reply-To and Message-ID (without angle brackets).
func extractEnvelope(h textproto.Header) *imap.Envelope {
	env := &imap.Envelope{}
	if d := h.Get("Date"); d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			env.Date = t
		}
	}
	env.Subject = h.Get("Subject")
	if s, err := wordDecoder.DecodeHeader(env.Subject); err == nil {
		env.Subject = s
	}
	env.InReplyTo = msgIDs(h.Get("In-Reply-To"))
	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		env.MessageID = ids[0]
	}
	return env
}

// msgIDs returns the <...> message ids of a header value, without the
// brackets.
func msgIDs(v string) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return out
		}
		if id := strings.TrimSpace(v[i+1 : i+j]); id != "" && len(out) < 64 {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
}
