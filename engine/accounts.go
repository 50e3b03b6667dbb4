package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/tidemark/tidemark/engine/event"
)

// Account is an account as the API shows it.
type Account struct {
	ID        uint64
	Address   string
	Domain    string
	Aliases   []string
	Status    event.AccountStatus
	Quota     int64 // bytes, 0 = unlimited
	QuotaUsed int64
	COS       string
	Created   time.Time
	HideInGAL bool
	Attrs     map[string]string
}

// AccountSpec describes a new account. Quota nil takes the class of
// service's default; Status "" is active. PasswordHash (a bcrypt or argon2id
// hash, from a restore) is used as is when Password is empty.
type AccountSpec struct {
	Address      string
	Password     string
	COS          string
	Quota        *int64
	Status       event.AccountStatus
	HideInGAL    bool
	Attrs        map[string]string
	PasswordHash string
	Aliases      []string
}

// AccountChange lists the fields ModifyAccount changes; nil fields stay.
// Attrs are merged: a key with an empty value is removed.
type AccountChange struct {
	Status    *event.AccountStatus
	Quota     *int64
	COS       *string
	HideInGAL *bool
	Attrs     map[string]string
}

// Folders every new account starts with.
var defaultFolders = []struct{ name, use string }{
	{InboxName, `\Inbox`}, {"Sent", `\Sent`}, {"Drafts", `\Drafts`}, {"Trash", `\Trash`}, {"Junk", `\Junk`},
}

func accountOf(a acctRec) Account {
	return Account{
		ID: a.A.ID, Address: a.A.Address, Domain: domainOf(a.A.Address),
		Aliases: append([]string(nil), a.A.Aliases...), Status: a.A.Status, Quota: a.A.Quota,
		QuotaUsed: a.Used, COS: a.A.COS, Created: fromNano(a.A.Created), HideInGAL: a.A.HideInGAL,
		Attrs: maps.Clone(a.A.Attrs),
	}
}

// addressFree fails with ErrExists when addr is taken and ErrNotFound when
// its domain does not exist.
func addressFree(r reader, addr string) error {
	if ok, err := getVal(r, domainKey(domainOf(addr)), &domainRec{}); err != nil || !ok {
		if err == nil {
			err = notFoundf("domain %s", domainOf(addr))
		}
		return err
	}
	if _, ok, err := getU64(r, addressKey(addr)); err != nil || ok {
		if err == nil {
			err = existsf("address %s", addr)
		}
		return err
	}
	return nil
}

func (e *Engine) hashPassword(pw string) (string, error) {
	if len(pw) > 72 {
		return "", invalidf("password longer than 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), e.opts.BcryptCost)
	if err != nil {
		return "", invalidf("password: %v", err)
	}
	return string(h), nil
}

// nextUIDValidity hands out UIDVALIDITY values: the clock's seconds, but
// always above every value handed out before.
func (e *Engine) nextUIDValidity(tx *txn) (uint32, error) {
	last, _, err := getU64(tx.b, keyUIDValidity)
	if err != nil {
		return 0, err
	}
	v := uint64(uint32(e.opts.Now().Unix()))
	if v <= last {
		v = last + 1
	}
	tx.setU64(keyUIDValidity, v) // seen by later commands of this round
	return uint32(v), nil
}

// CreateAccount adds an account in an existing domain, with its default
// folders (INBOX, Sent, Drafts, Trash, Junk) in the same record.
func (e *Engine) CreateAccount(ctx context.Context, s AccountSpec) (Account, error) {
	addr, err := normAddress(s.Address)
	if err != nil {
		return Account{}, err
	}
	if s.Status == "" {
		s.Status = event.StatusActive
	}
	if !s.Status.Valid() {
		return Account{}, invalidf("status %q", s.Status)
	}
	if s.Quota != nil && *s.Quota < 0 {
		return Account{}, invalidf("negative quota")
	}
	aliases := make([]string, 0, len(s.Aliases))
	for _, al := range s.Aliases {
		n, err := normAddress(al)
		if err != nil {
			return Account{}, err
		}
		aliases = append(aliases, n)
	}
	hash := s.PasswordHash
	if s.Password != "" {
		if hash, err = e.hashPassword(s.Password); err != nil {
			return Account{}, err
		}
	}
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		for _, a := range append([]string{addr}, aliases...) {
			if err := addressFree(tx.b, a); err != nil {
				return nil, nil, err
			}
		}
		var quota int64
		if s.COS != "" {
			var c event.COS
			ok, err := getVal(tx.b, cosKey(s.COS), &c)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				return nil, nil, notFoundf("class of service %s", s.COS)
			}
			quota = c.DefaultQuota
		}
		if s.Quota != nil {
			quota = *s.Quota
		}
		id, _, err := getU64(tx.b, keyNextAccount)
		if err != nil {
			return nil, nil, err
		}
		if id == 0 {
			id = 1
		}
		ev := event.AccountCreated{Account: event.Account{
			ID: id, Address: addr, Aliases: aliases, PasswordHash: hash, Status: s.Status,
			Quota: quota, COS: s.COS, Created: e.opts.Now().UnixNano(), HideInGAL: s.HideInGAL, Attrs: s.Attrs,
		}}
		for i, f := range defaultFolders {
			uv, err := e.nextUIDValidity(tx)
			if err != nil {
				return nil, nil, err
			}
			ev.Folders = append(ev.Folders, event.FolderCreated{
				Account: id, Folder: uint64(i + 1), Name: f.name, SpecialUse: f.use, UIDValidity: uv, Subscribed: true,
			})
		}
		return ev, accountOf(acctRec{A: ev.Account}), nil
	})
	if err != nil {
		return Account{}, err
	}
	return res.(Account), nil
}

// ModifyAccount changes status, quota, class of service, GAL visibility or
// attributes.
func (e *Engine) ModifyAccount(ctx context.Context, id uint64, c AccountChange) (Account, error) {
	if c.Status != nil && !c.Status.Valid() {
		return Account{}, invalidf("status %q", *c.Status)
	}
	if c.Quota != nil && *c.Quota < 0 {
		return Account{}, invalidf("negative quota")
	}
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		a, err := tx.account(id)
		if err != nil {
			return nil, nil, err
		}
		n := a.A
		if c.Status != nil {
			n.Status = *c.Status
		}
		if c.Quota != nil {
			n.Quota = *c.Quota
		}
		if c.COS != nil {
			if *c.COS != "" {
				if ok, err := getVal(tx.b, cosKey(*c.COS), &event.COS{}); err != nil || !ok {
					if err == nil {
						err = notFoundf("class of service %s", *c.COS)
					}
					return nil, nil, err
				}
			}
			n.COS = *c.COS
		}
		if c.HideInGAL != nil {
			n.HideInGAL = *c.HideInGAL
		}
		if c.Attrs != nil {
			m := maps.Clone(n.Attrs)
			if m == nil {
				m = map[string]string{}
			}
			for k, v := range c.Attrs {
				if v == "" {
					delete(m, k)
				} else {
					m[k] = v
				}
			}
			if len(m) == 0 {
				m = nil
			}
			n.Attrs = m
		}
		a.A = n
		return event.AccountModified{Account: n}, accountOf(a), nil
	})
	if err != nil {
		return Account{}, err
	}
	return res.(Account), nil
}

// RenameAccount changes the primary address.
func (e *Engine) RenameAccount(ctx context.Context, id uint64, newAddress string) error {
	addr, err := normAddress(newAddress)
	if err != nil {
		return err
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if _, err := tx.account(id); err != nil {
			return nil, nil, err
		}
		if err := addressFree(tx.b, addr); err != nil {
			return nil, nil, err
		}
		return event.AccountRenamed{Account: id, NewAddress: addr}, nil, nil
	})
	return err
}

// DeleteAccount removes the account with all its folders and items.
func (e *Engine) DeleteAccount(ctx context.Context, id uint64) error {
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		a, err := tx.account(id)
		if err != nil {
			return nil, nil, err
		}
		return event.AccountDeleted{Account: id, Address: a.A.Address}, nil, nil
	})
	return err
}

// SetPassword replaces the account's password (hashed with bcrypt before
// it reaches the writer).
func (e *Engine) SetPassword(ctx context.Context, id uint64, password string) error {
	if password == "" {
		return invalidf("empty password")
	}
	h, err := e.hashPassword(password)
	if err != nil {
		return err
	}
	return e.SetPasswordHash(ctx, id, h)
}

// SetPasswordHash stores an already computed hash (restore).
func (e *Engine) SetPasswordHash(ctx context.Context, id uint64, hash string) error {
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if _, err := tx.account(id); err != nil {
			return nil, nil, err
		}
		return event.PasswordSet{Account: id, Hash: hash}, nil, nil
	})
	return err
}

// AddAlias adds an address delivering to the account.
func (e *Engine) AddAlias(ctx context.Context, id uint64, alias string) error {
	al, err := normAddress(alias)
	if err != nil {
		return err
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if _, err := tx.account(id); err != nil {
			return nil, nil, err
		}
		if err := addressFree(tx.b, al); err != nil {
			return nil, nil, err
		}
		return event.AliasAdded{Account: id, Alias: al}, nil, nil
	})
	return err
}

// RemoveAlias removes an alias of the account.
func (e *Engine) RemoveAlias(ctx context.Context, id uint64, alias string) error {
	al, err := normAddress(alias)
	if err != nil {
		return err
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		a, err := tx.account(id)
		if err != nil {
			return nil, nil, err
		}
		for _, x := range a.A.Aliases {
			if x == al {
				return event.AliasRemoved{Account: id, Alias: al}, nil, nil
			}
		}
		return nil, nil, notFoundf("alias %s of account %d", al, id)
	})
	return err
}

// GetAccount returns an account by id.
func (e *Engine) GetAccount(ctx context.Context, id uint64) (Account, error) {
	a, err := loadAccount(e.db, id)
	if err != nil {
		return Account{}, err
	}
	return accountOf(a), nil
}

// LookupAccount finds an account by primary address or alias, ignoring
// case.
func (e *Engine) LookupAccount(ctx context.Context, address string) (Account, error) {
	addr, err := normAddress(address)
	if err != nil {
		return Account{}, notFoundf("address %q", address)
	}
	b, c, err := e.db.Get(addressKey(addr))
	if errors.Is(err, pebble.ErrNotFound) {
		return Account{}, notFoundf("address %s", addr)
	}
	if err != nil {
		return Account{}, err
	}
	id := binary.BigEndian.Uint64(b)
	c.Close()
	return e.GetAccount(ctx, id)
}

// ListAccounts returns the accounts of a domain ("" = all), by address.
func (e *Engine) ListAccounts(ctx context.Context, domain string) ([]Account, error) {
	prefix := []byte{tDomAddr}
	if domain != "" {
		d, err := normDomain(domain)
		if err != nil {
			return nil, err
		}
		prefix = domAddrPrefix(d)
	}
	var out []Account
	err := scan(e.db, prefix, func(k, v []byte) error {
		a, err := loadAccount(e.db, binary.BigEndian.Uint64(v))
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(k, 0); i >= 0 && string(k[i+1:]) == a.A.Address {
			out = append(out, accountOf(a))
		}
		return nil
	})
	return out, err
}

// Authenticate checks an address (or alias) and password. A wrong password
// or unknown address gives ErrAuthFailed; an account that is not active a
// *StatusError. A password verified within Options.AuthCacheTTL is not
// hashed again while the account's stored hash is unchanged (authcache.go).
//
// An unknown address, or an account without a password, is checked against
// a dummy hash of the same cost, so the time a failure takes does not tell
// whether the address exists.
func (e *Engine) Authenticate(ctx context.Context, address, password string) (Account, error) {
	acct, err := e.LookupAccount(ctx, address)
	if errors.Is(err, ErrNotFound) {
		e.verifyDummy(password)
		return Account{}, ErrAuthFailed
	}
	if err != nil {
		return Account{}, err
	}
	a, err := loadAccount(e.db, acct.ID)
	if err != nil {
		return Account{}, err
	}
	hash := a.A.PasswordHash
	if hash == "" {
		e.verifyDummy(password)
		return Account{}, ErrAuthFailed
	}
	if !e.auth.verify(acct.ID, hash, password, func() bool {
		return compareHash([]byte(hash), []byte(password)) == nil
	}) {
		return Account{}, ErrAuthFailed
	}
	if acct.Status != event.StatusActive {
		return Account{}, &StatusError{Status: acct.Status}
	}
	return acct, nil
}
