package imap

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// cmdList answers LIST (RFC 9051 with LIST-EXTENDED, RFC 5258, and
// LIST-STATUS, RFC 5819) and LSUB:
//
//	LIST [SP "(" select-opts ")"] SP ref SP (pattern / "(" patterns ")")
//	     [SP "RETURN" SP "(" return-opts ")"]
func (c *conn) cmdList(tag string, uid bool) error {
	lsub := c.command == "LSUB"
	opts := &imap.ListOptions{}
	if err := c.dec.sp(); err != nil {
		return err
	}
	if b, _ := c.dec.peek(); b == '(' && !lsub {
		if err := c.dec.list(func() error {
			a, err := c.dec.atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				opts.SelectSubscribed = true
			case "REMOTE":
				opts.SelectRemote = true
			case "RECURSIVEMATCH":
				opts.SelectRecursiveMatch = true
			case "SPECIAL-USE":
				opts.SelectSpecialUse = true
			default:
				return badf("unknown LIST selection option %s", truncate(a, 32))
			}
			return nil
		}); err != nil {
			return err
		}
		if opts.SelectRecursiveMatch && !opts.SelectSubscribed && !opts.SelectSpecialUse {
			return badf("RECURSIVEMATCH needs another selection option")
		}
		if err := c.dec.sp(); err != nil {
			return err
		}
	}
	ref, err := c.dec.astring()
	if err != nil {
		return err
	}
	if err := c.dec.sp(); err != nil {
		return err
	}
	var patterns []string
	if b, _ := c.dec.peek(); b == '(' && !lsub {
		if err := c.dec.list(func() error {
			if len(patterns) >= 32 {
				return badf("too many patterns")
			}
			p, err := c.dec.listMailbox()
			patterns = append(patterns, p)
			return err
		}); err != nil {
			return err
		}
	} else {
		p, err := c.dec.listMailbox()
		if err != nil {
			return err
		}
		patterns = []string{p}
	}
	if !lsub && c.dec.accept(' ') {
		if !c.dec.acceptFold("RETURN") {
			return badf("expected RETURN")
		}
		if err := c.dec.sp(); err != nil {
			return err
		}
		if err := c.dec.list(func() error {
			a, err := c.dec.atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				opts.ReturnSubscribed = true
			case "CHILDREN":
				opts.ReturnChildren = true
			case "SPECIAL-USE":
				opts.ReturnSpecialUse = true
			case "STATUS":
				if err := c.dec.sp(); err != nil {
					return err
				}
				so, err := c.statusItems()
				if err != nil {
					return err
				}
				opts.ReturnStatus = so
			default:
				return badf("unknown LIST return option %s", truncate(a, 32))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	if lsub {
		opts.SelectSubscribed = true
	}
	return c.sess.List(&listWriter{c: c, lsub: lsub}, ref, patterns, opts)
}

// listWriter writes the LIST (or LSUB) responses of one command.
type listWriter struct {
	c    *conn
	lsub bool
}

func (w *listWriter) WriteList(d *imap.ListData) error {
	return w.c.write(func(e *encoder) {
		if w.lsub {
			e.raw("* LSUB (")
		} else {
			e.raw("* LIST (")
		}
		for i, a := range d.Attrs {
			if i > 0 {
				e.sp()
			}
			e.raw(string(a))
		}
		e.raw(") ")
		if d.Delim == 0 {
			e.raw("NIL")
		} else {
			e.str(string(d.Delim))
		}
		e.sp().mailbox(d.Mailbox)
		if d.ChildInfo != nil && d.ChildInfo.Subscribed && !w.lsub {
			e.raw(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		e.crlf()
		if d.Status != nil {
			e.statusData(d.Status)
		}
	})
}

// statusItems reads "(" status-att *(SP status-att) ")".
func (c *conn) statusItems() (*imap.StatusOptions, error) {
	o := &imap.StatusOptions{}
	err := c.dec.list(func() error {
		a, err := c.dec.atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "MESSAGES":
			o.NumMessages = true
		case "RECENT":
			o.NumRecent = true
		case "UIDNEXT":
			o.UIDNext = true
		case "UIDVALIDITY":
			o.UIDValidity = true
		case "UNSEEN":
			o.NumUnseen = true
		case "DELETED":
			o.NumDeleted = true
		case "SIZE":
			o.Size = true
		case "APPENDLIMIT":
			o.AppendLimit = true
		case "HIGHESTMODSEQ":
			o.HighestModSeq = true
		default:
			return badf("unknown STATUS item %s", truncate(a, 32))
		}
		return nil
	})
	return o, err
}

func (c *conn) cmdStatus(tag string, uid bool) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.dec.sp(); err != nil {
		return err
	}
	o, err := c.statusItems()
	if err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	d, err := c.sess.Status(name, o)
	if err != nil {
		return err
	}
	return c.write(func(e *encoder) { e.statusData(d) })
}

func (e *encoder) statusData(d *imap.StatusData) {
	e.raw("* STATUS ").mailbox(d.Mailbox).raw(" (")
	sep := ""
	item := func(name string, v uint64) {
		e.raw(sep).raw(name).sp().num64(v)
		sep = " "
	}
	if d.NumMessages != nil {
		item("MESSAGES", uint64(*d.NumMessages))
	}
	if d.NumRecent != nil {
		item("RECENT", uint64(*d.NumRecent))
	}
	if d.UIDNext != 0 {
		item("UIDNEXT", uint64(d.UIDNext))
	}
	if d.UIDValidity != 0 {
		item("UIDVALIDITY", uint64(d.UIDValidity))
	}
	if d.NumUnseen != nil {
		item("UNSEEN", uint64(*d.NumUnseen))
	}
	if d.NumDeleted != nil {
		item("DELETED", uint64(*d.NumDeleted))
	}
	if d.Size != nil {
		item("SIZE", uint64(*d.Size))
	}
	if d.AppendLimit != nil {
		item("APPENDLIMIT", uint64(*d.AppendLimit))
	}
	if d.HighestModSeq != 0 {
		item("HIGHESTMODSEQ", d.HighestModSeq)
	}
	e.raw(")").crlf()
}
