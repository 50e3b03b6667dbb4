package imap

import (
	"github.com/emersion/go-imap/v2"
)

// QUOTA (RFC 9208). An account has one storage quota, over all its
// folders: one quota root, named "", resource STORAGE in units of 1024
// octets (usage rounded up). An account without a limit has no quota
// root. Quotas are set by administrators (account or class of service),
// so SETQUOTA is refused and QUOTASET not advertised.

// quotaRoot is the name of the account's single quota root.
const quotaRoot = ""

// cmdGetQuotaRoot: GETQUOTAROOT mailbox.
func (c *conn) cmdGetQuotaRoot(tag string, uid bool) error {
	name, err := c.mailboxArg()
	if err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	if _, err := c.sess.folder(name); err != nil {
		return err
	}
	used, limit, err := c.sess.quota()
	if err != nil {
		return err
	}
	return c.write(func(e *encoder) {
		e.raw("* QUOTAROOT ").mailbox(mailboxPath(name))
		if limit > 0 {
			e.sp().str(quotaRoot)
		}
		e.crlf()
		if limit > 0 {
			writeQuota(e, used, limit)
		}
	})
}

// cmdGetQuota: GETQUOTA root.
func (c *conn) cmdGetQuota(tag string, uid bool) error {
	if err := c.dec.sp(); err != nil {
		return err
	}
	root, err := c.dec.astring()
	if err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	used, limit, err := c.sess.quota()
	if err != nil {
		return err
	}
	if root != quotaRoot || limit <= 0 {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such quota root"}
	}
	return c.write(func(e *encoder) { writeQuota(e, used, limit) })
}

// cmdSetQuota: SETQUOTA is for administrators (the CLI), not clients.
func (c *conn) cmdSetQuota(tag string, uid bool) error {
	if err := c.dec.sp(); err != nil {
		return err
	}
	if _, err := c.dec.astring(); err != nil {
		return err
	}
	if err := c.dec.sp(); err != nil {
		return err
	}
	if err := c.dec.list(func() error {
		if _, err := c.dec.atom(); err != nil {
			return err
		}
		if err := c.dec.sp(); err != nil {
			return err
		}
		_, err := c.dec.number64()
		return err
	}); err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "Quotas are set by the administrator"}
}

func writeQuota(e *encoder, used, limit int64) {
	e.raw("* QUOTA ").str(quotaRoot).raw(" (STORAGE ").
		num64(uint64((used + 1023) / 1024)).sp().num64(uint64(limit / 1024)).raw(")").crlf()
}

func (s *session) quota() (used, limit int64, err error) {
	defer s.busy()()
	used, limit, err = s.srv.b.Quota(s.ctx, s.acct)
	if err != nil {
		return 0, 0, translate(s.srv.log, "quota", err)
	}
	return used, limit, nil
}
