package engine

import (
	"context"
	"strings"

	"github.com/tidemark/tidemark/engine/event"
)

// Domain is a mail domain.
type Domain struct {
	Name  string
	Attrs map[string]string
}

func normDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(s))
	if d == "" || len(d) > 253 || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
		return "", invalidf("domain %q", s)
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return "", invalidf("domain %q", s)
		}
	}
	return d, nil
}

// normAddress lower-cases and checks an address of the form local@domain.
func normAddress(s string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 320 {
		return "", invalidf("address %q", s)
	}
	for _, r := range a[:at] {
		if r <= ' ' || r == 0x7f || r == '@' || r == '<' || r == '>' || r == '"' || r == '\\' || r == ',' {
			return "", invalidf("address %q", s)
		}
	}
	if _, err := normDomain(a[at+1:]); err != nil {
		return "", invalidf("address %q", s)
	}
	return a, nil
}

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// CreateDomain adds a domain.
func (e *Engine) CreateDomain(ctx context.Context, name string) error {
	d, err := normDomain(name)
	if err != nil {
		return err
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, domainKey(d), &domainRec{}); err != nil || ok {
			if err == nil {
				err = existsf("domain %s", d)
			}
			return nil, nil, err
		}
		return event.DomainCreated{Name: d}, nil, nil
	})
	return err
}

// ModifyDomain replaces a domain's attributes.
func (e *Engine) ModifyDomain(ctx context.Context, name string, attrs map[string]string) error {
	d, err := normDomain(name)
	if err != nil {
		return err
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, domainKey(d), &domainRec{}); err != nil || !ok {
			if err == nil {
				err = notFoundf("domain %s", d)
			}
			return nil, nil, err
		}
		return event.DomainModified{Name: d, Attrs: attrs}, nil, nil
	})
	return err
}

// DeleteDomain removes a domain that no address uses (ErrFolderNotEmpty
// otherwise).
func (e *Engine) DeleteDomain(ctx context.Context, name string) error {
	d, err := normDomain(name)
	if err != nil {
		return err
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, domainKey(d), &domainRec{}); err != nil || !ok {
			if err == nil {
				err = notFoundf("domain %s", d)
			}
			return nil, nil, err
		}
		used := false
		if err := scan(tx.b, domAddrPrefix(d), func(_, _ []byte) error { used = true; return errStopScan }); err != nil && err != errStopScan {
			return nil, nil, err
		}
		if used {
			return nil, nil, wrapNotEmpty("domain %s still has addresses", d)
		}
		return event.DomainDeleted{Name: d}, nil, nil
	})
	return err
}

// ListDomains returns every domain, sorted by name.
func (e *Engine) ListDomains(ctx context.Context) ([]Domain, error) {
	var out []Domain
	err := scan(e.db, []byte{tDomain}, func(_, v []byte) error {
		var d domainRec
		if err := decVal(v, &d); err != nil {
			return err
		}
		out = append(out, Domain{Name: d.Name, Attrs: d.Attrs})
		return nil
	})
	return out, err
}

// GetDomain returns one domain.
func (e *Engine) GetDomain(ctx context.Context, name string) (Domain, error) {
	d, err := normDomain(name)
	if err != nil {
		return Domain{}, err
	}
	var r domainRec
	ok, err := getVal(e.db, domainKey(d), &r)
	if err == nil && !ok {
		err = notFoundf("domain %s", d)
	}
	return Domain{Name: r.Name, Attrs: r.Attrs}, err
}

// CreateCOS adds a class of service.
func (e *Engine) CreateCOS(ctx context.Context, c event.COS) error {
	if !validName(c.Name) || c.DefaultQuota < 0 {
		return invalidf("class of service %q", c.Name)
	}
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, cosKey(c.Name), &event.COS{}); err != nil || ok {
			if err == nil {
				err = existsf("class of service %s", c.Name)
			}
			return nil, nil, err
		}
		return event.COSCreated{COS: c}, nil, nil
	})
	return err
}

// ModifyCOS replaces a class of service whole.
func (e *Engine) ModifyCOS(ctx context.Context, c event.COS) error {
	if c.DefaultQuota < 0 {
		return invalidf("negative quota")
	}
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, cosKey(c.Name), &event.COS{}); err != nil || !ok {
			if err == nil {
				err = notFoundf("class of service %s", c.Name)
			}
			return nil, nil, err
		}
		return event.COSModified{COS: c}, nil, nil
	})
	return err
}

// DeleteCOS removes a class of service no account uses.
func (e *Engine) DeleteCOS(ctx context.Context, name string) error {
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, cosKey(name), &event.COS{}); err != nil || !ok {
			if err == nil {
				err = notFoundf("class of service %s", name)
			}
			return nil, nil, err
		}
		used := false
		err := scan(tx.b, []byte{tAccount}, func(_, v []byte) error {
			var a acctRec
			if err := decVal(v, &a); err != nil {
				return err
			}
			if a.A.COS == name {
				used = true
				return errStopScan
			}
			return nil
		})
		if err != nil && err != errStopScan {
			return nil, nil, err
		}
		if used {
			return nil, nil, wrapNotEmpty("class of service %s is in use", name)
		}
		return event.COSDeleted{Name: name}, nil, nil
	})
	return err
}

// ListCOS returns every class of service, sorted by name.
func (e *Engine) ListCOS(ctx context.Context) ([]event.COS, error) {
	var out []event.COS
	err := scan(e.db, []byte{tCOS}, func(_, v []byte) error {
		var c event.COS
		if err := decVal(v, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// GetCOS returns one class of service.
func (e *Engine) GetCOS(ctx context.Context, name string) (event.COS, error) {
	var c event.COS
	ok, err := getVal(e.db, cosKey(name), &c)
	if err == nil && !ok {
		err = notFoundf("class of service %s", name)
	}
	return c, err
}
