package view

import (
	"context"
	"fmt"
	"strings"
)

// Listed is one name of the view's namespace as LIST shows it.
type Listed struct {
	Name        string
	NoSelect    bool // the prefix and the days: levels, not mailboxes
	HasChildren bool
}

// Namespace is the view's prefix for acct, or "" when its view is off.
func (r *Router) Namespace(ctx context.Context, acct uint64) string {
	if _, err := r.s.Account(ctx, acct); err != nil {
		return ""
	}
	return r.s.opts.Prefix
}

// List returns the names of acct's view that LIST patterns (reference
// prepended, "/" the delimiter) may reach: the prefix, Deleted, the days
// of the window, and each day's folders at its end. Folders are read only
// for patterns that reach below the days ("*", or two levels under the
// prefix), so listing the days costs no folder scan; a day's folders cost
// one (Folders). Names under no pattern's reach are not computed at all.
func (r *Router) List(ctx context.Context, acct uint64, patterns []string) ([]Listed, error) {
	prefix := r.s.opts.Prefix
	reach, deep := false, false
	for _, p := range patterns {
		lit := p
		if i := strings.IndexAny(p, "*%"); i >= 0 {
			lit = p[:i]
		}
		if !strings.HasPrefix(prefix+"/", lit) && !strings.HasPrefix(lit, prefix+"/") && lit != prefix {
			continue
		}
		reach = true
		if strings.Contains(p, "*") || strings.Count(p, "/") >= 2 {
			deep = true
		}
	}
	if !reach {
		return nil, nil
	}
	a, err := r.s.Account(ctx, acct)
	if err != nil {
		return nil, err
	}
	days, err := a.Days(ctx)
	if err != nil {
		return nil, err
	}
	out := []Listed{{Name: prefix, NoSelect: true, HasChildren: true}, {Name: prefix + "/" + DeletedName}}
	for _, d := range days {
		day := Listed{Name: prefix + "/" + d.Label, NoSelect: true, HasChildren: true}
		if !deep {
			out = append(out, day)
			continue
		}
		fs, err := a.Folders(ctx, d.At)
		if err != nil {
			return nil, err
		}
		day.HasChildren = len(fs) > 0
		out = append(out, day)
		for i, f := range fs {
			// Folders are sorted by path: a child sorts right after its parent's other children.
			has := false
			for _, g := range fs[i+1:] {
				if strings.HasPrefix(g.Path, f.Path+"/") {
					has = true
					break
				}
			}
			out = append(out, Listed{Name: day.Name + "/" + f.Path, HasChildren: has})
		}
	}
	return out, nil
}

// SessionAt opens the view of acct for a USER+at=TIME login: the source
// that serves every folder name as the account had it at TIME, and its
// folders for LIST. A time outside the window, or the view turned off,
// fails with the errors of Account and Check.
func (r *Router) SessionAt(ctx context.Context, acct uint64, login string) (*Source, []Listed, error) {
	_, p, ok, err := r.s.ParseLogin(login)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q is not a USER+at=TIME login", ErrBadName, login)
	}
	a, err := r.s.Account(ctx, acct)
	if err != nil {
		return nil, nil, err
	}
	t, err := a.Resolve(p)
	if err != nil {
		return nil, nil, err
	}
	src, err := a.SourceAt(t)
	if err != nil {
		return nil, nil, err
	}
	fs, err := a.Folders(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Listed, len(fs))
	for i, f := range fs {
		out[i] = Listed{Name: f.Path}
		for _, g := range fs[i+1:] {
			if strings.HasPrefix(g.Path, f.Path+"/") {
				out[i].HasChildren = true
				break
			}
		}
	}
	return src, out, nil
}
