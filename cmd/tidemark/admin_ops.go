package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/operations"
)

// adminOp is one operation of the admin API. Arguments arrive as JSON so the
// socket and the direct path share one implementation.
type adminOp func(ctx context.Context, e *engine.Engine, args json.RawMessage) (any, error)

// op adapts a typed handler to adminOp.
func op[A any](f func(ctx context.Context, e *engine.Engine, a A) (any, error)) adminOp {
	return func(ctx context.Context, e *engine.Engine, raw json.RawMessage) (any, error) {
		var a A
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, fmt.Errorf("arguments: %w", err)
			}
		}
		return f(ctx, e, a)
	}
}

type nameArgs struct {
	Name string `json:"name"`
}

type accountArgs struct {
	Address string `json:"address"`
}

type accountCreateArgs struct {
	Address   string              `json:"address"`
	Password  string              `json:"password"`
	COS       string              `json:"cos"`
	Quota     *int64              `json:"quota,omitempty"`
	Status    event.AccountStatus `json:"status,omitempty"`
	HideInGAL bool                `json:"hide_in_gal,omitempty"`
}

type accountModifyArgs struct {
	Address string               `json:"address"`
	Change  engine.AccountChange `json:"change"`
}

type accountValueArgs struct {
	Address string `json:"address"`
	Value   string `json:"value"`
}

func lookup(ctx context.Context, e *engine.Engine, address string) (engine.Account, error) {
	a, err := e.LookupAccount(ctx, address)
	if err != nil {
		return a, fmt.Errorf("account %s: %w", address, err)
	}
	return a, nil
}

var adminOps = map[string]adminOp{
	"domain.create": op(func(ctx context.Context, e *engine.Engine, a nameArgs) (any, error) {
		return nil, e.CreateDomain(ctx, a.Name)
	}),
	"domain.delete": op(func(ctx context.Context, e *engine.Engine, a nameArgs) (any, error) {
		return nil, e.DeleteDomain(ctx, a.Name)
	}),
	"domain.show": op(func(ctx context.Context, e *engine.Engine, a nameArgs) (any, error) {
		return e.GetDomain(ctx, a.Name)
	}),
	"domain.modify": op(func(ctx context.Context, e *engine.Engine, d engine.Domain) (any, error) {
		return nil, e.ModifyDomain(ctx, d.Name, d.Attrs)
	}),
	"domain.list": op(func(ctx context.Context, e *engine.Engine, _ struct{}) (any, error) {
		return e.ListDomains(ctx)
	}),
	"cos.create": op(func(ctx context.Context, e *engine.Engine, c event.COS) (any, error) {
		return nil, e.CreateCOS(ctx, c)
	}),
	"cos.modify": op(func(ctx context.Context, e *engine.Engine, c event.COS) (any, error) {
		return nil, e.ModifyCOS(ctx, c)
	}),
	"cos.delete": op(func(ctx context.Context, e *engine.Engine, a nameArgs) (any, error) {
		return nil, e.DeleteCOS(ctx, a.Name)
	}),
	"cos.list": op(func(ctx context.Context, e *engine.Engine, _ struct{}) (any, error) {
		return e.ListCOS(ctx)
	}),
	"cos.show": op(func(ctx context.Context, e *engine.Engine, a nameArgs) (any, error) {
		return e.GetCOS(ctx, a.Name)
	}),
	"account.create": op(func(ctx context.Context, e *engine.Engine, a accountCreateArgs) (any, error) {
		return e.CreateAccount(ctx, engine.AccountSpec{
			Address: a.Address, Password: a.Password, COS: a.COS, Quota: a.Quota,
			Status: a.Status, HideInGAL: a.HideInGAL,
		})
	}),
	"account.list": op(func(ctx context.Context, e *engine.Engine, a struct {
		Domain string `json:"domain"`
	}) (any, error) {
		return e.ListAccounts(ctx, a.Domain)
	}),
	"account.show": op(func(ctx context.Context, e *engine.Engine, a accountArgs) (any, error) {
		return lookup(ctx, e, a.Address)
	}),
	"account.modify": op(func(ctx context.Context, e *engine.Engine, a accountModifyArgs) (any, error) {
		acct, err := lookup(ctx, e, a.Address)
		if err != nil {
			return nil, err
		}
		return e.ModifyAccount(ctx, acct.ID, a.Change)
	}),
	"account.delete": op(func(ctx context.Context, e *engine.Engine, a accountArgs) (any, error) {
		acct, err := lookup(ctx, e, a.Address)
		if err != nil {
			return nil, err
		}
		return nil, e.DeleteAccount(ctx, acct.ID)
	}),
	"account.rename": op(func(ctx context.Context, e *engine.Engine, a accountValueArgs) (any, error) {
		acct, err := lookup(ctx, e, a.Address)
		if err != nil {
			return nil, err
		}
		return nil, e.RenameAccount(ctx, acct.ID, a.Value)
	}),
	"account.passwd": op(func(ctx context.Context, e *engine.Engine, a accountValueArgs) (any, error) {
		acct, err := lookup(ctx, e, a.Address)
		if err != nil {
			return nil, err
		}
		return nil, e.SetPassword(ctx, acct.ID, a.Value)
	}),
	"alias.add": op(func(ctx context.Context, e *engine.Engine, a accountValueArgs) (any, error) {
		acct, err := lookup(ctx, e, a.Address)
		if err != nil {
			return nil, err
		}
		return nil, e.AddAlias(ctx, acct.ID, a.Value)
	}),
	"alias.remove": op(func(ctx context.Context, e *engine.Engine, a accountValueArgs) (any, error) {
		acct, err := lookup(ctx, e, a.Address)
		if err != nil {
			return nil, err
		}
		return nil, e.RemoveAlias(ctx, acct.ID, a.Value)
	}),
	"volume.create": op(func(ctx context.Context, e *engine.Engine, s hsm.Spec) (any, error) {
		return nil, e.CreateVolume(ctx, s)
	}),
	"volume.list": op(func(ctx context.Context, e *engine.Engine, _ struct{}) (any, error) {
		return e.Volumes(ctx)
	}),
	"volume.show": op(func(ctx context.Context, e *engine.Engine, a nameArgs) (any, error) {
		return e.Volume(ctx, a.Name)
	}),
	"volume.modify": op(func(ctx context.Context, e *engine.Engine, s hsm.Spec) (any, error) {
		return nil, e.ModifyVolume(ctx, s)
	}),
	"volume.delete": op(func(ctx context.Context, e *engine.Engine, a nameArgs) (any, error) {
		return nil, e.DeleteVolume(ctx, a.Name)
	}),
	"volume.set-current": op(func(ctx context.Context, e *engine.Engine, a nameArgs) (any, error) {
		return nil, e.SetCurrentVolume(ctx, a.Name)
	}),
	"volume.stats": op(func(ctx context.Context, e *engine.Engine, _ struct{}) (any, error) {
		return e.VolumeStats(ctx)
	}),
	"hsm.policy.show": op(func(ctx context.Context, e *engine.Engine, _ struct{}) (any, error) {
		return currentPolicy(ctx, e)
	}),
	"hsm.policy.set": op(func(ctx context.Context, e *engine.Engine, a policyView) (any, error) {
		return nil, e.SetPolicy(ctx, a.Lines, checkPolicy)
	}),
}

// adminServer is what the admin operations act on: the engine, and in a
// running server the backup scanner too.
type adminServer struct {
	eng     *engine.Engine
	backup  *backup.Service // nil when backup is off or no server runs
	dataDir string
	cfg     config
	ops     *operations.Manager   // nil when no server runs
	sched   *operations.Scheduler // nil when no server runs
}

// serverOp is an operation that only a running server can answer, because
// it concerns a component only the server runs (the backup scanner).
type serverOp func(ctx context.Context, s *adminServer, args json.RawMessage) (any, error)

var serverOps = map[string]serverOp{
	"backup.status": func(ctx context.Context, s *adminServer, raw json.RawMessage) (any, error) {
		if s.backup == nil {
			return nil, fmt.Errorf("the real-time backup is off on this server (backup.enabled = false or --no-backup)")
		}
		var a struct {
			Fresh bool `json:"fresh"`
		}
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, err
			}
		}
		return s.backup.Status(ctx, a.Fresh), nil
	},
	"backup.scanner": func(ctx context.Context, s *adminServer, raw json.RawMessage) (any, error) {
		if s.backup == nil {
			return nil, fmt.Errorf("the real-time backup is off on this server (backup.enabled = false or --no-backup)")
		}
		var a struct {
			Enabled bool `json:"enabled"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		sc := s.backup.Scanner()
		if sc == nil {
			return nil, fmt.Errorf("%w; the scanner starts when it does", s.backup.NotReady())
		}
		sc.SetEnabled(a.Enabled)
		return sc.Live(), nil
	},
}

// dispatch runs req.
func (s *adminServer) dispatch(ctx context.Context, req adminRequest) (any, error) {
	if f, ok := serverOps[req.Op]; ok {
		return f(ctx, s, req.Args)
	}
	f, ok := adminOps[req.Op]
	if !ok {
		return nil, fmt.Errorf("unknown admin operation %q", req.Op)
	}
	return f(ctx, s.eng, req.Args)
}
