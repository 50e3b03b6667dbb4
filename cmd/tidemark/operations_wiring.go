package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"time"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/operations"
	"github.com/tidemark/tidemark/operations/enginemail"
)

// operationsDir holds the operations' records inside the data directory.
const operationsDir = "operations"

// scheduleConfig is [schedule]: when the recurring backup jobs run, as
// "off", "daily HH:MM" or "weekly DAY HH:MM", in the server's local time.
type scheduleConfig struct {
	SmartScan string `toml:"smartscan"`
	Purge     string `toml:"purge"`
	HSMMove   string `toml:"hsm_move"` // the HSM policy's moves; default off
}

func defaultSchedule() scheduleConfig {
	return scheduleConfig{SmartScan: "daily 02:00", Purge: "weekly sunday 03:00", HSMMove: "off"}
}

// entries turns the configuration into scheduler entries.
func (s scheduleConfig) entries() ([]operations.Entry, error) {
	scan, err := operations.ParseSchedule(s.SmartScan)
	if err != nil {
		return nil, fmt.Errorf("schedule.smartscan: %w", err)
	}
	purge, err := operations.ParseSchedule(s.Purge)
	if err != nil {
		return nil, fmt.Errorf("schedule.purge: %w", err)
	}
	move, err := operations.ParseSchedule(s.HSMMove)
	if err != nil {
		return nil, fmt.Errorf("schedule.hsm_move: %w", err)
	}
	return []operations.Entry{
		{Name: "smartscan", Kind: kindBackupScan, When: scan},
		{Name: "purge", Kind: kindBackupPurge, When: purge},
		{Name: "hsm-move", Kind: kindHSMMove, When: move},
	}, nil
}

// notifyConfig is [notify]: who hears of each operation's start and end.
type notifyConfig struct {
	Admins []string `toml:"admins"` // local addresses; empty: the log only
	From   string   `toml:"from"`   // default tidemark@<server.hostname>
}

func (n notifyConfig) validate() error {
	for _, a := range append(append([]string(nil), n.Admins...), n.From) {
		if a == "" {
			continue
		}
		if _, err := mail.ParseAddress(a); err != nil {
			return fmt.Errorf("notify: %q is not an address: %w", a, err)
		}
	}
	return nil
}

// jobDeps is what the jobs act on. In a server they are the server's own
// engine and scanner; a command run without a server opens them itself.
// The jobs are the same either way.
type jobDeps struct {
	dataDir string
	cfg     config
	eng     *engine.Engine
	log     *slog.Logger
	// scanner returns the scanner the backup jobs go through: the running
	// server's, or a one-off one over the directly opened repository.
	scanner func() (*scanner.Scanner, error)
	// backup returns the local catalog and the repository (nil: backup
	// is off).
	backup func() (*catalog.Catalog, *repository.Repository, error)
	// s3Keys returns the keys for an S3 endpoint named in parameters.
	s3Keys func(endpoint string) (access, secret string)
	// live is set in a server: jobs share the repository with its scanner.
	live bool
	// refusal says whether the repository refuses this server (it
	// belongs to another server's history).
	refusal func(context.Context, *repository.Repository) (*repository.Refusal, error)
	// onEnd hears every operation that ended (metrics); nil for none.
	onEnd func(operations.Operation)
}

// s3KeysFor takes S3 keys from the environment of the process running the
// job (TIDEMARK_S3_ACCESS_KEY, TIDEMARK_S3_SECRET_KEY), else from
// [backup.s3] when the endpoint is the backup's own.
func s3KeysFor(cfg config) func(string) (string, string) {
	return func(endpoint string) (string, string) {
		ak, sk := os.Getenv("TIDEMARK_S3_ACCESS_KEY"), os.Getenv("TIDEMARK_S3_SECRET_KEY")
		if ak == "" && sk == "" && endpoint == cfg.Backup.S3.Endpoint {
			return cfg.Backup.S3.AccessKey, cfg.Backup.S3.SecretKey
		}
		return ak, sk
	}
}

// newOperations opens the operations manager of dataDir with the jobs
// registered over d, and notifications by mail when [notify] names
// administrators.
func newOperations(dataDir string, d *jobDeps, log *slog.Logger) (*operations.Manager, error) {
	opts := &operations.Options{Now: time.Now, Logger: log, Classify: errorClass, OnEnd: d.onEnd}
	if len(d.cfg.Notify.Admins) > 0 {
		opts.Notifier = operations.NewMailNotifier(enginemail.New(d.eng), operations.MailOptions{
			From: d.cfg.Notify.From, To: d.cfg.Notify.Admins, Hostname: d.cfg.Server.Hostname, Now: time.Now})
	}
	m, err := operations.Open(filepath.Join(dataDir, operationsDir), opts)
	if err != nil {
		return nil, err
	}
	if d.log == nil {
		d.log = log
	}
	d.dataDir = dataDir
	if d.s3Keys == nil {
		d.s3Keys = s3KeysFor(d.cfg)
	}
	registerJobs(m, d)
	registerRestoreJobs(m, d)
	registerImportJob(m, d)
	registerHSMJobs(m, d)
	return m, nil
}

// The kinds of operation.
const (
	kindBackupScan  = "backup.scan"
	kindBackupPurge = "backup.purge"
)

type scanParams struct {
	Account string `json:"account,omitempty"`
}

type purgeParams struct {
	Days *int `json:"days,omitempty"` // nil: backup.retention_days
}

// jobParams decodes params into a, refusing unknown fields so a typo is
// an error, not a default.
func jobParams(raw json.RawMessage, a any) error {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(a); err != nil {
		return fmt.Errorf("parameters: %w", err)
	}
	return nil
}

// registerJobs registers every kind over d.
func registerJobs(m *operations.Manager, d *jobDeps) {
	m.Register(kindBackupScan, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a scanParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		var acct uint64
		if a.Account != "" {
			ac, err := d.eng.LookupAccount(ctx, a.Account)
			if err != nil {
				return nil, fmt.Errorf("account %s: %w", a.Account, err)
			}
			acct = ac.ID
			p.Step(a.Account)
		}
		sc, err := d.scanner()
		if err != nil {
			return nil, err
		}
		return sc.ScanWith(ctx, acct, trackProgress(p))
	})
	m.Register(kindBackupPurge, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a purgeParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		days := d.cfg.Backup.RetentionDays
		if a.Days != nil {
			days = *a.Days
		}
		if days < 0 {
			return nil, fmt.Errorf("days must be 0 (keep forever) or more, not %d", days)
		}
		if days == 0 {
			return purgeReport{Days: 0, Note: "retention is 0 (keep forever): nothing to purge"}, nil
		}
		sc, err := d.scanner()
		if err != nil {
			return nil, err
		}
		rep, err := sc.PurgeWith(ctx, time.Duration(days)*24*time.Hour, trackProgress(p))
		return purgeReport{Days: days, PurgeReport: rep}, err
	})
}

// trackProgress shows a backup job's progress on its operation: the
// step, and items and bytes done of their totals (rates and ETA follow).
func trackProgress(p *operations.Tracker) maint.ProgressFunc {
	step := ""
	return func(g maint.Progress) {
		if g.Step != step {
			step = g.Step
			p.Step(g.Step)
		}
		p.SetTotal(g.ItemsTotal, g.BytesTotal)
		p.Set(g.Items, g.Bytes)
	}
}

// purgeReport is a purge's report with the retention it applied.
type purgeReport struct {
	Days int    `json:"days"`
	Note string `json:"note,omitempty"`
	maint.PurgeReport
}

// serverNotReady says why a running server has no scanner or repository
// for a job: refused by another server's repository, or not answering.
func serverNotReady(svc *backup.Service) error {
	if r := svc.Refusal(); r != nil {
		return svc.RefusalError(r)
	}
	return fmt.Errorf("%v; the operation can be resubmitted once it does", svc.NotReady())
}

// serverBackup is the running server's catalog and repository, or why
// there are none.
func serverBackup(svc *backup.Service) func() (*catalog.Catalog, *repository.Repository, error) {
	if svc == nil {
		return nil
	}
	return func() (*catalog.Catalog, *repository.Repository, error) {
		repo := svc.Repository()
		if repo == nil {
			return nil, nil, serverNotReady(svc)
		}
		return svc.Catalog(), repo, nil
	}
}

// serverScanner is the running server's scanner, or why there is none.
func serverScanner(svc *backup.Service) func() (*scanner.Scanner, error) {
	return func() (*scanner.Scanner, error) {
		if svc == nil {
			return nil, fmt.Errorf("the real-time backup is off on this server (backup.enabled = false or --no-backup)")
		}
		sc := svc.Scanner()
		if sc == nil {
			return nil, serverNotReady(svc)
		}
		return sc, nil
	}
}

// serverRefusal is the running server's refusal by its repository.
func serverRefusal(svc *backup.Service) func(context.Context, *repository.Repository) (*repository.Refusal, error) {
	return func(context.Context, *repository.Repository) (*repository.Refusal, error) {
		if svc == nil {
			return nil, nil
		}
		return svc.Refusal(), nil
	}
}

// startOperations opens the operations manager and runs the scheduler for
// serve, until ctx ends; the returned function closes them (before the
// backup service and the engine).
func startOperations(ctx context.Context, dataDir string, cfg config, eng *engine.Engine, svc *backup.Service, onEnd func(operations.Operation), log *slog.Logger) (*operations.Manager, *operations.Scheduler, func(), error) {
	m, err := newOperations(dataDir, &jobDeps{cfg: cfg, eng: eng, live: true, onEnd: onEnd,
		scanner: serverScanner(svc), backup: serverBackup(svc), refusal: serverRefusal(svc)}, log)
	if err != nil {
		return nil, nil, nil, err
	}
	entries, err := cfg.Schedule.entries()
	if err != nil {
		m.Close()
		return nil, nil, nil, err
	}
	if svc == nil {
		entries = nil // nothing to scan or purge without the backup
	}
	sched := operations.NewScheduler(m, entries, &operations.SchedulerOptions{Logger: log})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(sctx) }()
	for _, p := range sched.Plan() {
		log.Info("schedule", "name", p.Name, "when", p.When, "next", p.Next)
	}
	return m, sched, func() {
		cancel()
		<-done
		if err := m.Close(); err != nil {
			log.Error("close operations", "err", err)
		}
	}, nil
}
