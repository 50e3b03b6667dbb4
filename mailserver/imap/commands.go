package imap

import (
	"encoding/base64"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// command is one entry of the dispatch table: the states it is valid in
// and its handler, which parses its arguments (ending with dec.end) and
// runs it. uid is set for the "UID" forms.
type command struct {
	states []connState
	run    func(c *conn, tag string, uid bool) error
	uidOK  bool // has a UID form
}

var (
	anyState = []connState{stateNotAuthenticated, stateAuthenticated, stateSelected}
	notAuth  = []connState{stateNotAuthenticated}
	authed   = []connState{stateAuthenticated, stateSelected}
	selOnly  = []connState{stateSelected}
)

var commands map[string]command

func init() {
	commands = map[string]command{
		"CAPABILITY":   {states: anyState, run: (*conn).cmdCapability},
		"NOOP":         {states: anyState, run: (*conn).cmdNoop},
		"LOGOUT":       {states: anyState, run: (*conn).cmdLogout},
		"ID":           {states: anyState, run: (*conn).cmdID},
		"ENABLE":       {states: authed, run: (*conn).cmdEnable},
		"STARTTLS":     {states: notAuth, run: (*conn).cmdStartTLS},
		"LOGIN":        {states: notAuth, run: (*conn).cmdLogin},
		"AUTHENTICATE": {states: notAuth, run: (*conn).cmdAuthenticate},
		"NAMESPACE":    {states: authed, run: (*conn).cmdNamespace},
		"SELECT":       {states: authed, run: (*conn).cmdSelect},
		"EXAMINE":      {states: authed, run: (*conn).cmdSelect},
		"CREATE":       {states: authed, run: (*conn).cmdCreate},
		"DELETE":       {states: authed, run: (*conn).cmdDelete},
		"RENAME":       {states: authed, run: (*conn).cmdRename},
		"SUBSCRIBE":    {states: authed, run: (*conn).cmdSubscribe},
		"UNSUBSCRIBE":  {states: authed, run: (*conn).cmdSubscribe},
		"LIST":         {states: authed, run: (*conn).cmdList},
		"LSUB":         {states: authed, run: (*conn).cmdList},
		"STATUS":       {states: authed, run: (*conn).cmdStatus},
		"APPEND":       {states: authed, run: (*conn).cmdAppend},
		"IDLE":         {states: authed, run: (*conn).cmdIdle},
		"CHECK":        {states: selOnly, run: (*conn).cmdNoop},
		"CLOSE":        {states: selOnly, run: (*conn).cmdClose},
		"UNSELECT":     {states: selOnly, run: (*conn).cmdClose},
		"EXPUNGE":      {states: selOnly, run: (*conn).cmdExpunge, uidOK: true},
		"SEARCH":       {states: selOnly, run: (*conn).cmdSearch, uidOK: true},
		"FETCH":        {states: selOnly, run: (*conn).cmdFetch, uidOK: true},
		"STORE":        {states: selOnly, run: (*conn).cmdStore, uidOK: true},
		"COPY":         {states: selOnly, run: (*conn).cmdCopy, uidOK: true},
		"MOVE":         {states: selOnly, run: (*conn).cmdCopy, uidOK: true},
		"SORT":         {states: selOnly, run: (*conn).cmdSort, uidOK: true},
		"GETQUOTAROOT": {states: authed, run: (*conn).cmdGetQuotaRoot},
		"COMPRESS":     {states: authed, run: (*conn).cmdCompress},
		"GETQUOTA":     {states: authed, run: (*conn).cmdGetQuota},
		"SETQUOTA":     {states: authed, run: (*conn).cmdSetQuota},
		"THREAD":       {states: selOnly, run: (*conn).cmdThread, uidOK: true},
	}
}

var errUnknownCommand = &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Unknown command"}

// dispatch runs one command. An unknown command gets BAD and the session
// goes on, in every state: a client probing for extensions must not be
// disconnected (cross-protocol attacks, which some servers answer by
// hanging up, are bounded by the pre-authentication limits instead).
func (c *conn) dispatch(tag, name string, uid bool) error {
	cmd, ok := commands[name]
	if !ok || (uid && !cmd.uidOK) {
		return errUnknownCommand
	}
	valid := false
	for _, st := range cmd.states {
		valid = valid || st == c.state
	}
	if !valid {
		text := "Command not valid in this state"
		switch c.state {
		case stateNotAuthenticated:
			text = "Log in first"
		case stateAuthenticated:
			text = "No mailbox selected"
		}
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: text}
	}
	c.command = name
	return cmd.run(c, tag, uid)
}

func (c *conn) cmdCapability(tag string, uid bool) error {
	if err := c.dec.end(); err != nil {
		return err
	}
	return c.write(func(e *encoder) { e.raw("* CAPABILITY ").raw(c.capsText()).crlf() })
}

func (c *conn) cmdNoop(tag string, uid bool) error { return c.dec.end() }

func (c *conn) cmdLogout(tag string, uid bool) error {
	if err := c.dec.end(); err != nil {
		return err
	}
	c.state = stateLogout
	return c.write(func(e *encoder) { e.status("", imap.StatusResponseTypeBye, "", "Logging out") })
}

// cmdStartTLS is reached only when the limitReader declined STARTTLS:
// after authentication, on a TLS connection, or without a certificate.
func (c *conn) cmdStartTLS(tag string, uid bool) error {
	if err := c.dec.end(); err != nil {
		return err
	}
	return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "STARTTLS not available"}
}

func (c *conn) requireAuthAllowed() error {
	if !c.canAuth() {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired, Text: "TLS is required to authenticate"}
	}
	return nil
}

func (c *conn) cmdLogin(tag string, uid bool) error {
	var user, pass string
	err := c.dec.sp()
	if err == nil {
		user, err = c.dec.astring()
	}
	if err == nil {
		err = c.dec.sp()
	}
	if err == nil {
		pass, err = c.dec.astring()
	}
	if err == nil {
		err = c.dec.end()
	}
	if err != nil {
		return err
	}
	if err := c.requireAuthAllowed(); err != nil {
		return err
	}
	return c.login(user, pass)
}

// login runs a LOGIN or AUTHENTICATE PLAIN and moves to the authenticated
// state, announcing the new capabilities in the OK.
func (c *conn) login(user, pass string) error {
	if err := c.sess.Login(user, pass); err != nil {
		return err
	}
	c.state = stateAuthenticated
	c.loggedIn.Store(true)
	c.dec.preAuth = false
	c.okCode, c.okArgs, c.okText = "CAPABILITY", c.capsText(), "Logged in"
	return nil
}

func (c *conn) cmdAuthenticate(tag string, uid bool) error {
	err := c.dec.sp()
	var mech, initial string
	hasInitial := false
	if err == nil {
		mech, err = c.dec.atom()
	}
	if err == nil && c.dec.accept(' ') {
		hasInitial = true
		initial, err = c.dec.readWhile(func(b byte) bool { return b == '=' || isBase64(b) }, 8192)
	}
	if err == nil {
		err = c.dec.end()
	}
	if err != nil {
		return err
	}
	if err := c.requireAuthAllowed(); err != nil {
		return err
	}
	if !strings.EqualFold(mech, "PLAIN") {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Unsupported SASL mechanism"}
	}
	if !hasInitial {
		if err := c.writeNow(func(e *encoder) { e.raw("+ \r\n") }); err != nil {
			return err
		}
		line, err := c.dec.readWhile(func(b byte) bool { return b == '=' || b == '*' || isBase64(b) }, 8192)
		if err != nil {
			return err
		}
		if err := c.dec.end(); err != nil {
			return err
		}
		if line == "*" {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Authentication cancelled"}
		}
		initial = line
	}
	if initial == "=" {
		initial = ""
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Invalid base64"}
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Invalid PLAIN response"}
	}
	if parts[0] != "" && parts[0] != parts[1] {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "Authorization identity not supported"}
	}
	return c.login(parts[1], parts[2])
}

func isBase64(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/'
}

// cmdID answers RFC 2971 ID: the client's fields are read (and logged,
// truncated) but not kept; the server names itself.
func (c *conn) cmdID(tag string, uid bool) error {
	if err := c.dec.sp(); err != nil {
		return err
	}
	var fields []string
	if c.dec.acceptFold("NIL") {
	} else if err := c.dec.list(func() error {
		if len(fields) >= 60 {
			return badf("too many ID fields")
		}
		k, err := c.dec.str()
		if err != nil {
			return err
		}
		if err := c.dec.sp(); err != nil {
			return err
		}
		v, err := c.dec.nstring()
		fields = append(fields, k, v)
		return err
	}); err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	if len(fields) > 0 {
		c.srv.log.Debug("imap: client id", "ip", c.sess.ip, "id", truncate(strings.Join(fields, " "), 256))
	}
	return c.write(func(e *encoder) {
		e.raw(`* ID ("name" "tidemark" "vendor" "tidemark")`).crlf()
	})
}

// truncate bounds client-supplied text in log lines.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (c *conn) cmdEnable(tag string, uid bool) error {
	var names []string
	for c.dec.accept(' ') {
		a, err := c.dec.atom()
		if err != nil {
			return err
		}
		if len(names) < 32 {
			names = append(names, strings.ToUpper(a))
		}
	}
	if len(names) == 0 {
		return badf("ENABLE needs a capability")
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	var on []string
	for _, n := range names {
		if c.enable(n) {
			on = append(on, n)
		}
	}
	return c.write(func(e *encoder) {
		e.raw("* ENABLED")
		for _, n := range on {
			e.sp().raw(n)
		}
		e.crlf()
	})
}

// enable turns on an ENABLE-able extension and reports whether it is
// supported.
func (c *conn) enable(name string) bool {
	switch name {
	case "IMAP4REV2":
		c.enabled[imap.CapIMAP4rev2] = struct{}{}
		return true
	case "CONDSTORE":
		c.enableCondStore()
		return true
	case "QRESYNC":
		c.enableCondStore()
		c.enabled[imap.CapQResync] = struct{}{}
		return true
	case "UTF8=ACCEPT":
		c.enabled[imap.CapUTF8Accept] = struct{}{}
		c.wmu.Lock()
		c.enc.utf8 = true
		c.wmu.Unlock()
		return true
	}
	return false
}

func (c *conn) cmdNamespace(tag string, uid bool) error {
	if err := c.dec.end(); err != nil {
		return err
	}
	shared := ""
	if l, ok := c.srv.opts.Sources.(SourceLister); ok && c.sess != nil {
		shared = l.Namespace(c.sess.ctx, c.sess.acct)
	}
	return c.write(func(e *encoder) {
		e.raw(`* NAMESPACE (("" "/")) NIL `)
		if shared == "" {
			e.raw("NIL")
		} else {
			e.raw("((").str(shared + "/").raw(` "/"))`)
		}
		e.crlf()
	})
}

func (c *conn) mailboxArg() (string, error) {
	if err := c.dec.sp(); err != nil {
		return "", err
	}
	return c.dec.astring()
}

func (c *conn) cmdSelect(tag string, uid bool) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	opts := &imap.SelectOptions{ReadOnly: c.command == "EXAMINE"}
	var qr *qresyncParams
	if c.dec.accept(' ') {
		if err := c.dec.list(func() error {
			p, err := c.dec.atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(p) {
			case "CONDSTORE":
				opts.CondStore = true
				return nil
			case "QRESYNC":
				if err := c.dec.sp(); err != nil {
					return err
				}
				qr, err = c.dec.qresyncParams()
				return err
			}
			return badf("unknown SELECT parameter %s", truncate(p, 32))
		}); err != nil {
			return err
		}
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	if qr != nil && !c.qresync() {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "QRESYNC needs ENABLE QRESYNC first"}
	}
	if opts.CondStore {
		c.enabled[imap.CapCondStore] = struct{}{}
	}
	if c.state == stateSelected {
		// RFC 7162 section 3.2.11: a new SELECT closes the old one.
		c.state = stateAuthenticated
		c.sess.unselect()
		c.write(func(e *encoder) { e.raw("* OK [CLOSED] Previous mailbox closed").crlf() })
	}
	data, err := c.sess.Select(name, opts)
	if err != nil {
		return err
	}
	c.state = stateSelected
	if err := c.write(func(e *encoder) {
		e.raw("* ").num(data.NumMessages).raw(" EXISTS").crlf()
		e.raw("* ").num(data.NumRecent).raw(" RECENT").crlf()
		if data.FirstUnseenSeqNum > 0 {
			e.raw("* OK [UNSEEN ").num(data.FirstUnseenSeqNum).raw("] First unseen").crlf()
		}
		e.raw("* OK [UIDVALIDITY ").num(data.UIDValidity).raw("] UIDs valid").crlf()
		e.raw("* OK [UIDNEXT ").num(uint32(data.UIDNext)).raw("] Predicted next UID").crlf()
		e.raw("* FLAGS ").flags(data.Flags).crlf()
		e.raw("* OK [PERMANENTFLAGS ").flags(data.PermanentFlags).raw("] Flags permitted").crlf()
		if c.condstore() {
			e.raw("* OK [HIGHESTMODSEQ ").num64(c.sess.sel.folder.HighestModSeq).raw("] Highest").crlf()
		}
	}); err != nil {
		return err
	}
	if qr != nil {
		if err := c.sess.qresyncSelect(c, qr); err != nil {
			return err
		}
	}
	// EXAMINE, or a read-only source (the backup view) whatever the
	// command: the session's selection knows both.
	if c.sess.sel.readOnly {
		c.okCode = "READ-ONLY"
	} else {
		c.okCode = "READ-WRITE"
	}
	return nil
}

func (c *conn) cmdCreate(tag string, uid bool) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	opts := &imap.CreateOptions{}
	if c.dec.accept(' ') {
		// RFC 6154 CREATE-SPECIAL-USE: (USE (\Sent))
		if err := c.dec.list(func() error {
			p, err := c.dec.atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(p, "USE") {
				return badf("unknown CREATE parameter")
			}
			if err := c.dec.sp(); err != nil {
				return err
			}
			return c.dec.list(func() error {
				f, err := c.dec.flag()
				opts.SpecialUse = append(opts.SpecialUse, imap.MailboxAttr(f))
				return err
			})
		}); err != nil {
			return err
		}
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	return c.sess.Create(name, opts)
}

func (c *conn) cmdDelete(tag string, uid bool) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	return c.sess.Delete(name)
}

func (c *conn) cmdRename(tag string, uid bool) error {
	from, err := c.mailboxArg()
	if err != nil {
		return err
	}
	to, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	return c.sess.Rename(from, to, nil)
}

func (c *conn) cmdSubscribe(tag string, uid bool) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	if c.command == "SUBSCRIBE" {
		return c.sess.Subscribe(name)
	}
	return c.sess.Unsubscribe(name)
}

func (c *conn) cmdClose(tag string, uid bool) error {
	if err := c.dec.end(); err != nil {
		return err
	}
	if c.command == "CLOSE" && !c.sess.sel.readOnly {
		// CLOSE expunges silently.
		if err := c.sess.Expunge(nil, nil); err != nil {
			return err
		}
	}
	c.sess.unselect()
	c.state = stateAuthenticated
	return nil
}

func (c *conn) cmdExpunge(tag string, uid bool) error {
	var uids *imap.UIDSet
	if uid {
		if err := c.dec.sp(); err != nil {
			return err
		}
		set, err := c.dec.numSet(true)
		if err != nil {
			return err
		}
		u, ok := set.(imap.UIDSet)
		if !ok {
			u = c.sess.sel.searchRes
		}
		uids = &u
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	if err := c.sess.requireWritable(); err != nil {
		return err
	}
	return c.sess.Expunge(c, uids)
}

func (c *conn) cmdIdle(tag string, uid bool) error {
	if err := c.dec.end(); err != nil {
		return err
	}
	if err := c.write(func(e *encoder) { e.raw("+ idling").crlf() }); err != nil {
		return err
	}
	// Updates during IDLE go out as they happen.
	if err := c.holdWrites(false); err != nil {
		return err
	}
	stop := make(chan struct{})
	var line string
	var rerr error
	go func() {
		defer close(stop)
		line, rerr = c.dec.readWhile(func(b byte) bool { return b != '\r' && b != '\n' }, 64)
		if rerr == nil {
			rerr = c.dec.end()
		}
	}()
	ierr := c.sess.Idle(c, stop)
	<-stop
	if rerr != nil {
		if isSyntax(rerr) {
			c.dec.lineDone = false
			return rerr
		}
		return rerr
	}
	if ierr != nil {
		return ierr
	}
	if !strings.EqualFold(line, "DONE") {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Expected DONE"}
	}
	return nil
}
