package imap

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// envelopeData is FETCH ENVELOPE (RFC 9051 section 7.5.2). Unlike
// go-imap's Envelope it keeps the Date header as the message has it: the
// envelope's date is that string, so a wrong weekday or an unusual zone
// reaches the client as sent (and a date no parser understands is still a
// string, not NIL); and each address keeps its source route.
type envelopeData struct {
	Date, Subject                      string
	From, Sender, ReplyTo, To, Cc, Bcc []address
	InReplyTo                          []string
	MessageID                          string
}

// address is one ENVELOPE address: display name, source route (the
// obsolete "@relay1,@relay2" before a ':' inside the angle brackets, RFC
// 5322 section 4.4; ENVELOPE's second field), mailbox and host. A group
// start has the group's name as mailbox and no host; a group end is all
// empty.
type address struct {
	Name, Route, Mailbox, Host string
}

// envelope builds FETCH ENVELOPE from a message's header. Subject and
// message ids are read by extractEnvelope; the address lists are parsed
// here because net/mail drops groups and source routes:
// "undisclosed-recipients:;" must come back as the group markers
// (NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL), not NIL, and
// "<@relay:user@host>" as (NIL "@relay" "user" "host"). An absent or
// empty Sender or Reply-To is the From list, as the RFC asks.
func envelope(raw []byte) *envelopeData {
	env := &envelopeData{}
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
func addressList(v string) []address {
	var out []address
	add := func(seg string) {
		if strings.TrimSpace(seg) == "" {
			return
		}
		seg, routes := stripRoutes(seg)
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
			out = append(out, address{Name: a.Name, Route: routes[strings.ToLower(a.Address)], Mailbox: mbox, Host: host})
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
			out = append(out, address{Mailbox: group})
			add(v[start:i])
			out = append(out, address{})
			inGroup, start = false, i+1
		}
	}
	if inGroup {
		// An unterminated group still ends with the message.
		out = append(out, address{Mailbox: group})
		add(v[start:])
		out = append(out, address{})
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
// (which addressList parses, groups included): the Date header as sent
// (unfolded, trimmed), subject (RFC 2047 decoded), In-Reply-To and
// Message-ID (without angle brackets).
func extractEnvelope(h textproto.Header) *envelopeData {
	env := &envelopeData{}
	env.Date = unfold(h.Get("Date"))
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

// unfold joins a folded header value into one line (RFC 5322 section
// 2.2.3: a line break followed by white space is removed) and trims it.
func unfold(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	}
	return strings.TrimSpace(v)
}

// stripRoutes removes source routes ("<@a,@b:user@host>", RFC 5322
// section 4.4's obs-route) from an address list, which net/mail does not
// parse, and returns them keyed by the lower-cased address they precede.
func stripRoutes(s string) (string, map[string]string) {
	if !strings.Contains(s, "<") || !strings.Contains(s, ":") {
		return s, nil
	}
	var routes map[string]string
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (quoted || depth > 0):
			b.WriteByte(c)
			i++
			c = s[i]
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
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				break
			}
			inner := strings.TrimSpace(s[i+1 : i+end])
			colon := strings.IndexByte(inner, ':')
			if !strings.HasPrefix(inner, "@") || colon < 0 {
				break
			}
			addr := strings.TrimSpace(inner[colon+1:])
			if routes == nil {
				routes = map[string]string{}
			}
			routes[strings.ToLower(strings.Join(strings.Fields(stripComments(addr)), ""))] =
				strings.Join(strings.Fields(inner[:colon]), "")
			b.WriteString("<" + addr + ">")
			i += end
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), routes
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
