package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/operations"
	"github.com/tidemark/tidemark/restore"
)

// The restore, verify and export jobs. Like the scan and purge jobs they
// run the same in a server (through its engine, catalog and scanner: mail
// keeps flowing, and what they write is backed up like any change) and in
// a command run without one.

// More kinds of operation.
const (
	kindBackupVerify          = "backup.verify"
	kindBackupExport          = "backup.export"
	kindRestoreAccount        = "restore.account"
	kindRestoreUndelete       = "restore.undelete"
	kindRestoreItem           = "restore.item"
	kindRestoreDeletedAccount = "restore.deleted-account"
	kindRestoreExternal       = "restore.external"
)

// Times in parameters: RFC 3339 (the command line resolved the user's
// form and zone), "first" or "last".
func opTimeString(t time.Time) string {
	switch {
	case t.Equal(restore.Earliest):
		return "first"
	case t.Equal(restore.Latest):
		return "last"
	}
	return t.Format(time.RFC3339Nano)
}

func opTime(s string) (time.Time, error) {
	switch s {
	case "", "last":
		return restore.Latest, nil
	case "first":
		return restore.Earliest, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return t, nil
}

// s3Target is an S3 location in parameters. Keys are never parameters
// (operations are kept on disk and mailed): the process running the job
// takes them from jobDeps.s3Keys.
type s3Target struct {
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	TLS      bool   `json:"tls,omitempty"`
}

type restoreAccountParams struct {
	restoreHSM
	Account   string `json:"account"` // address as of At, or id
	At        string `json:"at,omitempty"`
	Into      string `json:"into,omitempty"`
	HideInGAL bool   `json:"hide_in_gal,omitempty"`
	InPlace   bool   `json:"in_place,omitempty"`
}

type restoreUndeleteParams struct {
	restoreHSM
	Account string `json:"account"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	// Folder is the "Restored <date>" folder, named at submission so a
	// resubmitted undelete fills the same one ("": named when it runs).
	Folder string `json:"folder,omitempty"`
}

type restoreItemParams struct {
	restoreHSM
	Account string `json:"account"`
	Item    uint64 `json:"item"`
	At      string `json:"at,omitempty"`
	Folder  string `json:"folder,omitempty"`
}

type restoreDeletedParams struct {
	restoreHSM
	Account string `json:"account"` // the deleted account's address or id
	Into    string `json:"into"`
}

type restoreExternalParams struct {
	restoreHSM
	Source             string   `json:"source"` // absolute directory or s3://bucket/prefix
	S3                 s3Target `json:"s3,omitzero"`
	Accounts           []string `json:"accounts,omitempty"`
	Domains            []string `json:"domains,omitempty"`
	ProvisioningOnly   bool     `json:"provisioning_only,omitempty"`
	IncludeDeleted     bool     `json:"include_deleted,omitempty"`
	SkipSystemAccounts bool     `json:"skip_system_accounts,omitempty"`
	Concurrency        int      `json:"concurrency,omitempty"`
	// PasswordFile holds the source repository's password (absolute);
	// without it, TIDEMARK_BACKUP_PASSWORD of the process that runs it.
	PasswordFile string `json:"password_file,omitempty"`
}

type verifyParams struct {
	Accounts []string `json:"accounts,omitempty"`
	ReadData bool     `json:"read_data,omitempty"`
	Fix      bool     `json:"fix,omitempty"`
}

type exportParams struct {
	Dest    string   `json:"dest"` // absolute directory or s3://bucket/prefix
	S3      s3Target `json:"s3,omitzero"`
	Domains []string `json:"domains,omitempty"`
	At      string   `json:"at,omitempty"`
}

// backupSide returns the catalog and repository the jobs read: the
// server's (the scanner's catalog) or those the command opened.
func (d *jobDeps) backupSide() (*catalog.Catalog, *repository.Repository, error) {
	if d.backup == nil {
		return nil, nil, errors.New("the real-time backup is off on this server (backup.enabled = false or --no-backup)")
	}
	return d.backup()
}

// restorer makes a restorer over the engine, catalog and repository, with
// its progress on p.
func (d *jobDeps) restorer(cat restore.Catalog, blobs restore.Blobs, p *operations.Tracker) *restore.Restorer {
	return restore.New(d.eng, cat, blobs, &restore.Options{Now: time.Now, Logger: d.log,
		Progress: func(pr restore.Progress) {
			p.Step(pr.Account)
			p.SetTotal(int64(pr.Total), 0)
			p.Set(int64(pr.Done), 0)
		}})
}

// accountID resolves an address as of t, or an id, in the catalog.
func accountID(ctx context.Context, cat *catalog.Catalog, arg string, t time.Time) (uint64, error) {
	return resolveAccount(ctx, cat, arg, t)
}

// restoreHSM is the --obey-hsm-policy of the restores that write into
// accounts.
type restoreHSM struct {
	ObeyHSMPolicy bool `json:"obey_hsm_policy,omitempty"`
}

// restoreHSMReport is a restore's report with where the HSM policy put
// the restored blobs.
type restoreHSMReport struct {
	restore.Report
	HSM *engine.MoveReport `json:"hsm,omitempty"`
}

// obeyPolicy moves the restored accounts' blobs that the HSM policy
// selects to the current secondary, so restored mail ends where the policy
// would have moved it.
func (d *jobDeps) obeyPolicy(ctx context.Context, rep restore.Report) (*engine.MoveReport, error) {
	var ids []uint64
	for _, a := range rep.Accounts {
		if a.Target != 0 {
			ids = append(ids, a.Target)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	match, _, err := policyMatcher(ctx, d.eng, time.Now())
	if err != nil {
		return nil, err
	}
	mr, err := d.eng.MoveByPolicy(ctx, engine.MoveOptions{Match: match, Accounts: ids})
	if err != nil {
		return &mr, fmt.Errorf("restored, but placing the restored blobs by the HSM policy stopped (run tidemark hsm move): %w", err)
	}
	return &mr, nil
}

// restoreResult finishes a restore: it notes accounts left over their
// quota and turns unrestored items into the operation's failure (the
// report lists them).
func (d *jobDeps) restoreResult(ctx context.Context, rep restore.Report, err error, h restoreHSM) (any, error) {
	for i, a := range rep.Accounts {
		if a.Target == 0 {
			continue
		}
		used, limit, qerr := d.eng.Quota(ctx, a.Target)
		if qerr == nil && limit > 0 && used > limit {
			note := fmt.Sprintf("over quota after the restore: uses %s of %s (restores ignore the quota)", formatBytes(used), formatBytes(limit))
			if a.Note != "" {
				note = a.Note + "; " + note
			}
			rep.Accounts[i].Note = note
		}
	}
	if err != nil {
		return rep, err
	}
	if h.ObeyHSMPolicy {
		mr, err := d.obeyPolicy(ctx, rep)
		out := restoreHSMReport{Report: rep, HSM: mr}
		if err != nil {
			return out, err
		}
		return out, rep.Incomplete()
	}
	return rep, rep.Incomplete()
}

// registerRestoreJobs registers the restore, verify and export kinds.
func registerRestoreJobs(m *operations.Manager, d *jobDeps) {
	m.Register(kindRestoreAccount, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a restoreAccountParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		at, err := opTime(a.At)
		if err != nil {
			return nil, err
		}
		if a.InPlace == (a.Into != "") {
			return nil, errors.New("give into (a new account) or in_place")
		}
		cat, repo, err := d.backupSide()
		if err != nil {
			return nil, err
		}
		src, err := accountID(ctx, cat, a.Account, at)
		if err != nil {
			return nil, err
		}
		r := d.restorer(cat, repo, p)
		if a.InPlace {
			rep, err := d.inMaintenance(ctx, src, func() (restore.Report, error) { return r.InPlace(ctx, src, at) })
			return d.restoreResult(ctx, rep, err, a.restoreHSM)
		}
		rep, err := r.Account(ctx, src, at, strings.ToLower(a.Into), restore.AccountOptions{HideInGAL: a.HideInGAL})
		return d.restoreResult(ctx, rep, err, a.restoreHSM)
	})
	m.Register(kindRestoreUndelete, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a restoreUndeleteParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		if a.From == "" {
			a.From = "first"
		}
		from, err := opTime(a.From)
		if err != nil {
			return nil, err
		}
		to, err := opTime(a.To)
		if err != nil {
			return nil, err
		}
		if to.Before(from) {
			return nil, errors.New("the end of the window is before its start")
		}
		cat, repo, err := d.backupSide()
		if err != nil {
			return nil, err
		}
		acct, err := accountID(ctx, cat, a.Account, restore.Latest)
		if err != nil {
			return nil, err
		}
		rep, err := d.restorer(cat, repo, p).UndeleteInto(ctx, acct, from, to, a.Folder)
		return d.restoreResult(ctx, rep, err, a.restoreHSM)
	})
	m.Register(kindRestoreItem, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a restoreItemParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		at, err := opTime(a.At)
		if err != nil {
			return nil, err
		}
		if a.Item == 0 {
			return nil, errors.New("item: an item id is required (see tidemark backup ls)")
		}
		cat, repo, err := d.backupSide()
		if err != nil {
			return nil, err
		}
		acct, err := accountID(ctx, cat, a.Account, restore.Latest)
		if err != nil {
			return nil, err
		}
		rep, err := d.restorer(cat, repo, p).Item(ctx, acct, a.Item, at, a.Folder)
		return d.restoreResult(ctx, rep, err, a.restoreHSM)
	})
	m.Register(kindRestoreDeletedAccount, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a restoreDeletedParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		if a.Into == "" {
			return nil, errors.New("into: the address of the new account is required")
		}
		cat, repo, err := d.backupSide()
		if err != nil {
			return nil, err
		}
		old, err := deletedAccountID(ctx, cat, a.Account)
		if err != nil {
			return nil, err
		}
		rep, err := d.restorer(cat, repo, p).DeletedAccount(ctx, old, strings.ToLower(a.Into), restore.AccountOptions{})
		return d.restoreResult(ctx, rep, err, a.restoreHSM)
	})
	m.Register(kindRestoreExternal, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a restoreExternalParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		if a.Concurrency < 0 {
			return nil, errors.New("concurrency must be positive")
		}
		vol, _, err := openRepositoryVolume(ctx, d.dataDir, d.s3Backup(a.Source, a.S3))
		if err != nil {
			return nil, err
		}
		repo, err := openRepo(ctx, vol, repoPassword{flagFile: a.PasswordFile, noPrompt: true}, false)
		if err != nil {
			return nil, fmt.Errorf("source repository %s: %w", a.Source, err)
		}
		tmp, err := os.MkdirTemp("", "tidemark-external-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		p.Step("reading the source repository " + repo.ID())
		cat, err := catalog.Rebuild(ctx, repo, filepath.Join(tmp, "catalog"), nil)
		if err != nil {
			return nil, fmt.Errorf("catalog of %s: %w", a.Source, err)
		}
		defer cat.Close()
		rep, err := d.restorer(cat, repo, p).External(ctx, restore.ExternalOptions{Source: repo.ID(),
			Accounts: a.Accounts, Domains: a.Domains, ProvisioningOnly: a.ProvisioningOnly,
			IncludeDeleted: a.IncludeDeleted, SkipSystemAccounts: a.SkipSystemAccounts, Concurrency: a.Concurrency})
		return d.restoreResult(ctx, rep, err, a.restoreHSM)
	})
	m.Register(kindBackupVerify, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a verifyParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		cat, repo, err := d.backupSide()
		if err != nil {
			return nil, err
		}
		// A repository that belongs to another server's history is
		// reported as a problem: this server's mail is not backed up.
		refusal, err := d.refusal(ctx, repo)
		if err != nil {
			return nil, err
		}
		if refusal != nil && d.live {
			rep := maint.VerifyReport{Problems: []maint.Problem{ownerProblem(refusal, resolveCommands(d.dataDir, refusal))}}
			return rep, errVerifyProblems
		}
		opts := maint.VerifyOptions{ReadData: a.ReadData, Fix: a.Fix, Source: enginesrc.New(d.eng), Progress: trackProgress(p)}
		for _, addr := range a.Accounts {
			id, err := cat.FindAccount(ctx, strings.ToLower(addr), time.Now())
			if err != nil {
				return nil, fmt.Errorf("account %s: %w", addr, err)
			}
			opts.Accounts = append(opts.Accounts, id)
		}
		p.Step("checking the repository")
		var rep maint.VerifyReport
		if d.live {
			// The scanner holds off meanwhile (Scanner.Verify).
			sc, serr := d.scanner()
			if serr != nil {
				return nil, serr
			}
			rep, err = sc.Verify(ctx, opts)
		} else {
			rep, err = maint.Verify(ctx, repo, cat, opts)
		}
		if refusal != nil {
			rep.Problems = append(rep.Problems, ownerProblem(refusal, resolveCommands(d.dataDir, refusal)))
		}
		p.Set(int64(rep.Blobs), 0)
		if err == nil && !rep.OK() {
			err = errVerifyProblems
		}
		return rep, err
	})
	m.Register(kindBackupExport, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a exportParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		at, err := opTime(a.At)
		if err != nil {
			return nil, err
		}
		if a.Dest == "" || !strings.Contains(a.Dest, "://") && !filepath.IsAbs(a.Dest) {
			return nil, fmt.Errorf("dest %q: an absolute directory or s3://bucket/prefix is required", a.Dest)
		}
		if !strings.Contains(a.Dest, "://") {
			if names, err := os.ReadDir(a.Dest); err == nil && len(names) > 0 {
				return nil, fmt.Errorf("export into %s: %w", a.Dest, restore.ErrNotEmpty)
			}
		}
		cat, repo, err := d.backupSide()
		if err != nil {
			return nil, err
		}
		vol, _, err := openRepositoryVolume(ctx, d.dataDir, d.s3Backup(a.Dest, a.S3))
		if err != nil {
			return nil, err
		}
		// An export of an encrypted repository is encrypted with the
		// same password.
		var pw []byte
		if repo.Encrypted() {
			cfg, _, err := loadConfig(d.dataDir)
			if err != nil {
				return nil, err
			}
			if pw, err = (repoPassword{dataDir: d.dataDir, cfgFile: cfg.Backup.PasswordFile}).password(); err != nil {
				return nil, err
			}
			if pw == nil {
				return nil, errors.New("export of an encrypted repository: no password to encrypt it with ([backup] password_file or " + passwordEnv + ")")
			}
		}
		rep, err := restore.Export(ctx, cat, repo, vol, &restore.ExportOptions{Domains: a.Domains, At: at, Logger: d.log, Password: pw,
			Progress: func(done, total int) { p.SetTotal(int64(total), 0); p.Set(int64(done), 0) }})
		if err == nil && len(rep.Unrestored) > 0 {
			err = fmt.Errorf("export: %d items were left out (listed in the report with the reason): %w",
				len(rep.Unrestored), restore.ErrIncomplete)
		}
		return rep, err
	})
}

// deletedAccountID finds a deleted account by id or by the address it had
// (the most recently deleted one wins).
func deletedAccountID(ctx context.Context, cat *catalog.Catalog, arg string) (uint64, error) {
	if id, err := strconv.ParseUint(arg, 10, 64); err == nil {
		return id, nil
	}
	dels, err := cat.DeletedAccounts(ctx)
	if err != nil {
		return 0, err
	}
	var best uint64
	var when time.Time
	for _, dv := range dels {
		if strings.EqualFold(dv.Account.Address, arg) && !dv.Time.Before(when) {
			best, when = dv.Account.ID, dv.Time
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no deleted account %s in the backup (see tidemark backup accounts --deleted): %w", arg, restore.ErrNotInBackup)
	}
	return best, nil
}

// s3Backup is the backupConfig of a repository named in parameters, with
// the S3 keys of the process that runs the job.
func (d *jobDeps) s3Backup(loc string, t s3Target) backupConfig {
	c := backupConfig{Repository: loc, S3: s3Config{Endpoint: t.Endpoint, Region: t.Region, TLS: t.TLS}}
	if d.s3Keys != nil {
		c.S3.AccessKey, c.S3.SecretKey = d.s3Keys(t.Endpoint)
	}
	return c
}

// inMaintenance runs f (an in-place rollback of acct) with the account in
// maintenance: deliveries get 4xx and the MTA retries, IMAP logins are
// refused. Its status before is set back afterwards, even when f fails or
// is stopped.
func (d *jobDeps) inMaintenance(ctx context.Context, acct uint64, f func() (restore.Report, error)) (restore.Report, error) {
	a, err := d.eng.GetAccount(ctx, acct)
	if err != nil {
		return restore.Report{}, fmt.Errorf("account %d: %w", acct, err)
	}
	prev := a.Status
	if prev != event.StatusMaintenance {
		st := event.StatusMaintenance
		if _, err := d.eng.ModifyAccount(ctx, acct, engine.AccountChange{Status: &st}); err != nil {
			return restore.Report{}, fmt.Errorf("put %s in maintenance: %w", a.Address, err)
		}
		d.log.Info("account in maintenance for an in-place restore", "account", a.Address, "status_after", prev)
	}
	rep, err := f()
	if prev != event.StatusMaintenance {
		// The stop or shutdown that may have ended f must not keep the
		// account out of service: this runs on its own deadline.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, serr := d.eng.ModifyAccount(bctx, acct, engine.AccountChange{Status: &prev}); serr != nil {
			err = errors.Join(err, fmt.Errorf("set %s back to %s: %w (tidemark account modify %s --status %s)", a.Address, prev, serr, a.Address, prev))
		}
	}
	return rep, err
}
