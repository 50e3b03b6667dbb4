package imap

import (
	"bytes"
	"strings"
)

// envelopeData is FETCH ENVELOPE (RFC 9051 section 7.5.2). Unlike
// go-imap's Envelope it keeps the Date header as the message has it: the
// envelope's date is that string, so a wrong weekday or an unusual zone
// reaches the client as sent (and a date no parser understands is still a
// string, not NIL); and each address keeps its source route.
type envelopeData struct {
	Date, Subject                      string
	From, Sender, ReplyTo, To, Cc, Bcc []address
	InReplyTo, MessageID               string
	// Present marks the string fields whose header the message has, so
	// an empty one is "" and an absent one NIL.
	Present envFields
}

// envFields is a set of ENVELOPE's string fields.
type envFields uint8

const (
	envDate envFields = 1 << iota
	envSubject
	envInReplyTo
	envMessageID
)

// address is one ENVELOPE address: display name, source route (the
// obsolete "@relay1,@relay2" before a ':' inside the angle brackets, RFC
// 5322 section 4.4; ENVELOPE's second field), mailbox and host. A group
// start has the group's name as mailbox and no host; a group end is all
// empty.
type address struct {
	Name, Route, Mailbox, Host string
}

// envelope builds FETCH ENVELOPE from a message's header, as the header
// has it: date, subject and display names are sent as written (unfolded),
// RFC 2047 encoded words included, for the client to decode, as RFC 9051
// section 7.5.2 and every mature server do. The header is read leniently:
// a line that is no field (an mbox "From " line, a stray continuation)
// is skipped instead of losing the whole envelope. An address field that
// occurs more than once contributes all its addresses; other fields count
// once, the first. An absent or empty Sender or Reply-To is the From list,
// as the RFC asks.
func envelope(raw []byte) *envelopeData {
	env := &envelopeData{}
	guard(func() {
		h, _ := splitMessage(raw)
		var date, subject, inReplyTo, msgID string
		var seenDate, seenSubject, seenReply, seenID bool
		lists := map[string][]string{}
		eachField(h, func(name, value string) {
			switch strings.ToLower(name) {
			case "date":
				if !seenDate {
					date, seenDate = value, true
				}
			case "subject":
				if !seenSubject {
					subject, seenSubject = value, true
				}
			case "in-reply-to":
				if !seenReply {
					inReplyTo, seenReply = value, true
				}
			case "message-id":
				if !seenID {
					msgID, seenID = value, true
				}
			case "from", "sender", "reply-to", "to", "cc", "bcc":
				k := strings.ToLower(name)
				lists[k] = append(lists[k], value)
			}
		})
		env.Date = unfoldExact(date)
		env.Subject = oneSpace(subject)
		env.InReplyTo = unfoldExact(inReplyTo)
		env.MessageID = unfoldExact(msgID)
		for _, f := range []struct {
			seen bool
			bit  envFields
		}{{seenDate, envDate}, {seenSubject, envSubject}, {seenReply, envInReplyTo}, {seenID, envMessageID}} {
			if f.seen {
				env.Present |= f.bit
			}
		}
		list := func(k string) []address {
			var out []address
			for _, v := range lists[k] {
				out = append(out, addressList(unfold(v))...)
			}
			for i := range out {
				// A display name is for the reader, as the subject.
				out[i].Name = oneSpace(out[i].Name)
			}
			return out
		}
		env.From, env.Sender, env.ReplyTo = list("from"), list("sender"), list("reply-to")
		env.To, env.Cc, env.Bcc = list("to"), list("cc"), list("bcc")
		if len(env.Sender) == 0 {
			env.Sender = env.From
		}
		if len(env.ReplyTo) == 0 {
			env.ReplyTo = env.From
		}
	})
	return env
}

// eachField calls f for each field of a header block with its name and
// raw value (continuation lines included). Lines that are no field are
// skipped: a continuation line with no field before it, a line without a
// colon or with an empty name.
func eachField(h []byte, f func(name, value string)) {
	var name string
	var value []byte
	have := false
	flush := func() {
		if have {
			f(name, string(value))
		}
		have = false
	}
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i+1], h[i+1:]
		} else {
			h = nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if have {
				value = append(value, line...)
			}
			continue
		}
		flush()
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		n := bytes.TrimRight(line[:colon], " \t")
		if len(n) == 0 || bytes.ContainsAny(n, " \t") {
			continue
		}
		name, value, have = string(n), append([]byte(nil), line[colon+1:]...), true
	}
	flush()
}

// Placeholders for an address part the header lacks: ENVELOPE has no way
// to say "no domain" (a NIL host marks a group), so the address is kept
// with these words, as Dovecot writes them, rather than dropped.
const (
	missingMailbox = "MISSING_MAILBOX"
	missingDomain  = "MISSING_DOMAIN"
)

// addressList parses an RFC 5322 address-list into ENVELOPE addresses,
// keeping display names as written (quotes removed, comments dropped,
// encoded words left for the client). Groups become a start marker (the
// group's name as mailbox, no host), their members and an end marker. An
// address without a domain or local part gets a placeholder; an empty
// list item is skipped. The obsolete forms of RFC 5322 section 4.4 are
// read: source routes ("<@a,@b:u@h>"), phrases with dots ("Mr. Smith"),
// white space and comments around '@' and '.'.
func addressList(v string) []address {
	p := &addrParser{toks: addrTokens(v)}
	var out []address
	inGroup := false
	for !p.done() {
		t := p.peek()
		switch {
		case t.kind == ',':
			p.i++
			continue
		case t.kind == ';':
			p.i++
			if inGroup {
				out = append(out, address{})
				inGroup = false
			}
			continue
		}
		words, start := p.phrase()
		if p.at(':') && !inGroup && words != "" {
			p.i++
			out = append(out, address{Mailbox: words})
			inGroup = true
			continue
		}
		if a, ok := p.mailbox(words, start); ok {
			out = append(out, a)
		}
	}
	if inGroup {
		// An unterminated group still ends with the list.
		out = append(out, address{})
	}
	return out
}

// addrTok is a token of an address list: kind is 'a' (atom), 'q' (quoted
// string, unquoted), 'c' (comment, without parentheses), 'd' (domain
// literal, brackets kept) or the special character itself; sp says white
// space or a comment came before it.
type addrTok struct {
	kind byte
	text string
	sp   bool
}

func addrTokens(v string) []addrTok {
	var out []addrTok
	sp := false
	for i := 0; i < len(v); {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ')' {
			// white space, or a ')' that closes no comment
			sp = true
			i++
			continue
		}
		n := len(out)
		switch {
		case c == '"':
			var b strings.Builder
			i++
			for i < len(v) && v[i] != '"' {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				b.WriteByte(v[i])
				i++
			}
			i++
			out = append(out, addrTok{kind: 'q', text: b.String()})
		case c == '(':
			var b strings.Builder
			depth := 1
			i++
			for i < len(v) && depth > 0 {
				switch {
				case v[i] == '\\' && i+1 < len(v):
					i++
				case v[i] == '(':
					depth++
				case v[i] == ')':
					depth--
				}
				if depth > 0 {
					b.WriteByte(v[i])
				}
				i++
			}
			out = append(out, addrTok{kind: 'c', text: b.String()})
		case c == '[':
			j := strings.IndexByte(v[i:], ']')
			if j < 0 {
				j = len(v) - i - 1
			}
			out = append(out, addrTok{kind: 'd', text: v[i : i+j+1]})
			i += j + 1
		case strings.IndexByte("<>@,;:.", c) >= 0:
			out = append(out, addrTok{kind: c, text: string(c)})
			i++
		default:
			j := i
			for j < len(v) && strings.IndexByte(" \t\r\n\"()[]<>@,;:.", v[j]) < 0 {
				j++
			}
			if j == i {
				j++ // a stray ']' is a word of its own
			}
			out = append(out, addrTok{kind: 'a', text: v[i:j]})
			i = j
		}
		out[n].sp = sp
		sp = out[n].kind == 'c'
	}
	return out
}

type addrParser struct {
	toks []addrTok
	i    int
}

func (p *addrParser) done() bool     { return p.i >= len(p.toks) }
func (p *addrParser) peek() addrTok  { return p.toks[p.i] }
func (p *addrParser) at(k byte) bool { return !p.done() && p.toks[p.i].kind == k }

// phrase reads words (atoms, quoted strings, dots) and comments up to a
// special that ends them, and returns the words, one space where white
// space or a comment separated them, and the index of the first token.
func (p *addrParser) phrase() (string, int) {
	start := p.i
	var b strings.Builder
	for !p.done() {
		t := p.peek()
		switch t.kind {
		case 'a', 'q', '.':
			if b.Len() > 0 && t.sp {
				b.WriteByte(' ')
			}
			b.WriteString(t.text)
		case 'c':
		default:
			return b.String(), start
		}
		p.i++
	}
	return b.String(), start
}

// mailbox reads the rest of one mailbox after its leading phrase: an
// angle address, an addr-spec whose local part the phrase tokens were, or
// nothing (a local part without a domain).
func (p *addrParser) mailbox(words string, start int) (address, bool) {
	if p.at('<') {
		p.i++
		a := address{Name: words}
		if p.at('@') {
			// source route: @domain *("," @domain) ":"
			var r strings.Builder
			for !p.done() && !p.at(':') && !p.at('>') {
				t := p.peek()
				if t.kind != 'c' {
					r.WriteString(t.text)
				}
				p.i++
			}
			if p.at(':') {
				p.i++
				a.Route = r.String()
			}
		}
		var lead string
		lead, a.Mailbox, a.Host, _ = p.addrSpec('>')
		if a.Name == "" {
			a.Name = lead
		}
		if p.at('>') {
			p.i++
		}
		// Words or comments after the angle address belong to nothing.
		for !p.done() && !p.at(',') && !p.at(';') {
			p.i++
		}
		return a, true
	}
	if p.at('@') {
		// The phrase was the local part: read it again as one.
		p.i = start
		a := address{}
		var comment string
		a.Name, a.Mailbox, a.Host, comment = p.addrSpec(0)
		if a.Name == "" {
			// A comment after a bare addr-spec is its display name.
			a.Name = strings.Join(strings.Fields(comment), " ")
		}
		if p.at('>') {
			p.i++ // "a@b.org>"
		}
		return a, true
	}
	// No '@' and no '<': a bare word is a local part without a domain;
	// only comments make no address.
	if words == "" {
		for !p.done() && !p.at(',') && !p.at(';') {
			p.i++
		}
		return address{}, false
	}
	for !p.done() && !p.at(',') && !p.at(';') && !p.at(':') {
		p.i++
	}
	if strings.Contains(words, " ") {
		// "Mary Smith" alone: a name without an address.
		return address{Name: words, Mailbox: missingMailbox, Host: missingDomain}, true
	}
	return address{Mailbox: words, Host: missingDomain}, true
}

// addrSpec reads local-part "@" domain up to end (or ',', ';', '<' or
// '>' when end is 0), leaving the parser on the terminator. Comments and
// white space are dropped (the first comment after the domain is
// returned); quoted local parts lose their quotes. Words that white
// space, not a dot, separates from the local part ("Big Bug bb@x.org")
// are returned as a display name; a word that white space separates from
// the domain starts the next address ("a@x.org b@y.org").
func (p *addrParser) addrSpec(end byte) (name, mailbox, host, comment string) {
	var local, domain, lead strings.Builder
	cur := &local
	seenComment := false
	var last byte
	for !p.done() {
		t := p.peek()
		if t.kind == end || t.kind == ',' || t.kind == ';' || (end == 0 && (t.kind == '<' || t.kind == '>')) {
			break
		}
		word := t.kind == 'a' || t.kind == 'q' || t.kind == 'd'
		if word && t.sp && cur.Len() > 0 && last != '.' && last != '@' {
			if cur == &domain {
				break
			}
			if lead.Len() > 0 {
				lead.WriteByte(' ')
			}
			lead.WriteString(local.String())
			local.Reset()
		}
		switch t.kind {
		case '@':
			if cur == &local {
				cur = &domain
			}
		case 'c':
			if cur == &domain && domain.Len() > 0 && !seenComment {
				comment, seenComment = t.text, true
			}
		default:
			cur.WriteString(t.text)
		}
		if t.kind != 'c' {
			last = t.kind
		}
		p.i++
	}
	name = lead.String()
	mailbox, host = local.String(), domain.String()
	if mailbox == "" {
		mailbox = missingMailbox
	}
	if host == "" {
		host = missingDomain
	}
	return name, mailbox, host, comment
}

// unfoldExact unfolds a header value as RFC 5322 section 2.2.3 says, by
// removing the line breaks of its folds and keeping the white space after
// them, and trims it: the Date, Message-ID and In-Reply-To of ENVELOPE are
// the field as written on one line, as Dovecot sends them (white space
// around them, which is no part of a date or a message id, is left out).
func unfoldExact(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	}
	return strings.TrimSpace(v)
}

// oneSpace is the ENVELOPE subject and display names: unfolded, every run
// of white space (spaces, tabs, line breaks) one space, trimmed, as Dovecot
// sends them for the reader and as RFC 5256's base subject reads a subject.
func oneSpace(v string) string {
	return strings.Join(strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}), " ")
}

// unfold joins a folded header value into one line (RFC 5322 section
// 2.2.3) and trims it; the white space around each fold becomes one
// space, so a subject folded with a tab reads as words, as Dovecot sends
// it.
func unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return strings.TrimSpace(v)
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		c := v[i]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			b.WriteByte(c)
			i++
			continue
		}
		j, fold := i, false
		for j < len(v) && (v[j] == ' ' || v[j] == '\t' || v[j] == '\r' || v[j] == '\n') {
			fold = fold || v[j] == '\r' || v[j] == '\n'
			j++
		}
		if fold {
			b.WriteByte(' ')
		} else {
			b.WriteString(v[i:j])
		}
		i = j
	}
	return strings.TrimSpace(b.String())
}
