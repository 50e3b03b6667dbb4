package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/hsm"
)

// Engine is the server as the backup service reads it: its redo log, its
// state for SmartScan and its blobs (backup/enginesrc adapts the engine).
type Engine interface {
	scanner.LogSource
	scanner.Source
	repository.BlobSource
}

// ServiceOptions configures a Service. Zero fields take the defaults
// given.
type ServiceOptions struct {
	// Dir is the server's data directory: the catalog is Dir/repository.CatalogDir,
	// the server identity Dir/repository.IdentityFile.
	Dir string
	// Where names the repository in logs.
	Where string
	// Open opens the repository, creating it on first use. The service
	// calls it under one retry policy without limit, over permanent errors
	// too (an administrator fixes a mount or permissions while mail
	// flows), until it succeeds or the service stops.
	Open func(ctx context.Context) (*repository.Repository, error)
	// Problem, when set, tells an open failure an administrator must fix
	// (a wrong password: nothing changes until then) from an outage: it
	// returns what Status says, and the service logs it once as an error.
	Problem func(err error) (msg string, ok bool)
	// Resolve says how an administrator ends a refusal (commands to run);
	// Status and NotReady carry it. Default: nothing.
	Resolve func(*repository.Refusal) []string
	// Scanner are the scanner's options; Owner is set by the service.
	Scanner scanner.Options
	// RetentionDays is reported by Status.
	RetentionDays int
	// CatalogCacheSize is the catalog's block cache in bytes. Default
	// catalog.DefaultCacheSize.
	CatalogCacheSize int64
	// Recheck is how often a refused server reads the owner record again
	// (TakeOwnership wakes it at once). Default 30 s.
	Recheck time.Duration
	// Now is the clock of claims and lag. Default time.Now.
	Now func() time.Time
	// Logger receives the service's and the scanner's reports.
	Logger *slog.Logger
}

// Service runs a server's real-time backup, as Litestream's Store runs its
// replicas: it opens the repository in the background (the mail server
// starts during a repository outage and keeps every record the backup
// will need), checks and claims ownership (one history per repository,
// backup/repository, owner.go), binds the catalog to the repository and runs the scanner,
// starting it again when a refusal ends. serve, the operations and the
// tests start the same thing.
type Service struct {
	o ServiceOptions

	scanner atomic.Pointer[scanner.Scanner] // nil while not running
	safe    atomic.Pointer[scanner.Scanner] // the last scanner that ran: SafeLSN
	repo    atomic.Pointer[repository.Repository]
	openErr atomic.Pointer[string] // last failure to open the repository
	refusal atomic.Pointer[repository.Refusal]
	failed  atomic.Pointer[string] // why the scanner stopped for good

	catMu sync.RWMutex // cat is replaced when the repository changed
	cat   *catalog.Catalog
	idMu  sync.Mutex // serialises claims (the runner, TakeOwnership)
	id    repository.Identity
	eng   Engine
	wake  chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewService makes the service; nothing is opened or run until Start.
// Pass SafeLSN to the engine first: until a scanner runs it is 0, so the
// engine keeps every blob and redo record.
func NewService(o ServiceOptions) (*Service, error) {
	if o.Open == nil {
		return nil, errors.New("backup: service without a repository")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Recheck <= 0 {
		o.Recheck = 30 * time.Second
	}
	if o.Resolve == nil {
		o.Resolve = func(*repository.Refusal) []string { return nil }
	}
	if o.Scanner.Logger == nil {
		o.Scanner.Logger = o.Logger
	}
	return &Service{o: o, wake: make(chan struct{}, 1), cancel: func() {}}, nil
}

func (s *Service) catalogOptions() *catalog.Options {
	return &catalog.Options{CacheSize: s.o.CatalogCacheSize}
}

// SafeLSN is the position the backup has shipped, for the engine's blob
// collection and redo-log retention: 0 until a scanner runs.
func (s *Service) SafeLSN() uint64 {
	if sc := s.safe.Load(); sc != nil {
		return sc.SafeLSN()
	}
	return 0
}

// Start opens the catalog and the server identity of Dir and runs the
// service over eng in the background until Close or ctx ends. It is
// called once; Close is needed only after it succeeded.
func (s *Service) Start(ctx context.Context, eng Engine) error {
	cat, err := catalog.Open(filepath.Join(s.o.Dir, repository.CatalogDir), s.catalogOptions())
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	id, created, err := repository.LoadIdentity(s.o.Dir, s.o.Now())
	if err != nil {
		cat.Close()
		return err
	}
	if created {
		s.o.Logger.Info("this data directory had no server identity (written by an older tidemark); created one", "server", id.Server)
	}
	rctx, cancel := context.WithCancel(ctx)
	s.cat, s.id, s.eng, s.cancel = cat, id, eng, cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(rctx)
	}()
	return nil
}

func (s *Service) run(ctx context.Context) {
	repo := s.openRepository(ctx)
	if repo == nil {
		return // stopped before the repository answered
	}
	s.repo.Store(repo)
	for ctx.Err() == nil {
		// Ship only to a repository this server owns; while it is
		// refused, mail flows and the engine keeps every record.
		owner, err := s.own(ctx, repo)
		if err == nil {
			if err = s.bindCatalog(repo); err == nil {
				o := s.o.Scanner
				o.Owner = &owner
				var sc *scanner.Scanner
				if sc, err = scanner.New(repo, s.Catalog(), s.eng, s.eng, s.eng, &o); err == nil {
					s.scanner.Store(sc)
					s.safe.Store(sc)
					s.o.Logger.Info("backup scanner running", "repository", s.o.Where, "id", repo.ID(), "server", owner.Server, "epoch", owner.Epoch)
					err = sc.Run(ctx)
					s.scanner.Store(nil)
				}
			}
		}
		if err == nil || errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return
		}
		r, ok := errors.AsType[*repository.Refusal](err)
		if !ok {
			s.o.Logger.Error("backup scanner stopped", "err", err)
			msg := err.Error()
			s.failed.Store(&msg)
			return
		}
		s.refuse(r)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-time.After(s.o.Recheck):
		}
	}
}

// openRepository opens the repository, retrying while it is unreachable;
// nil when ctx ends first.
func (s *Service) openRepository(ctx context.Context) *repository.Repository {
	var repo *repository.Repository
	failed, problem := false, false
	policy := hsm.RetryOptions{MaxAttempts: -1, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
		RetryPermanent: true, OnRetry: func(_, _ string, attempt int, err error) {
			failed = true
			msg := fmt.Sprintf("repository %s unreachable: %v", s.o.Where, err)
			if m, ok := s.problem(err); ok {
				msg = m
				if !problem {
					problem = true
					s.o.Logger.Error("backup repository does not open: "+m+"; mail is still accepted and kept for the backup until it is fixed",
						"repository", s.o.Where, "err", err)
				}
			} else if attempt == 1 {
				s.o.Logger.Error("backup repository unreachable; mail is still accepted and kept for the backup until it answers",
					"repository", s.o.Where, "err", err)
			}
			s.openErr.Store(&msg)
		}}
	err := hsm.Retry(ctx, policy, "open repository", s.o.Where, func(ctx context.Context) error {
		var err error
		repo, err = s.o.Open(ctx)
		return err
	})
	if err != nil {
		return nil // ctx ended first
	}
	if failed {
		s.o.Logger.Info("backup repository open again; shipping what was kept meanwhile", "repository", s.o.Where)
	}
	s.openErr.Store(nil)
	return repo
}

func (s *Service) problem(err error) (string, bool) {
	if s.o.Problem == nil {
		return "", false
	}
	return s.o.Problem(err)
}

// Close stops the scanner, waits for it and closes the catalog.
func (s *Service) Close() error {
	s.cancel()
	s.wg.Wait()
	s.catMu.Lock()
	defer s.catMu.Unlock()
	if s.cat == nil {
		return nil
	}
	return s.cat.Close()
}

// Scanner returns the running scanner, or nil.
func (s *Service) Scanner() *scanner.Scanner { return s.scanner.Load() }

// Repository returns the repository once it has answered, or nil.
func (s *Service) Repository() *repository.Repository { return s.repo.Load() }

// Refusal returns why the repository refuses this server, or nil.
func (s *Service) Refusal() *repository.Refusal { return s.refusal.Load() }

// Catalog returns the current catalog (replaced when the server was
// pointed at another repository); nil before Start.
func (s *Service) Catalog() *catalog.Catalog {
	s.catMu.RLock()
	defer s.catMu.RUnlock()
	return s.cat
}

// NotReady says why there is no running scanner: refused by the
// repository (a *Refusal, wrapped), not answering, or stopped on a
// permanent error. nil when the scanner runs.
func (s *Service) NotReady() error {
	if s.Scanner() != nil && s.Refusal() == nil {
		return nil
	}
	if r := s.Refusal(); r != nil {
		return s.RefusalError(r)
	}
	if msg := s.failed.Load(); msg != nil {
		return fmt.Errorf("the backup scanner stopped: %s", *msg)
	}
	msg := "the backup repository has not answered since the server started"
	if e := s.openErr.Load(); e != nil {
		msg = *e
	}
	return errors.New(msg)
}

// RefusalError is r with how to resolve it.
func (s *Service) RefusalError(r *repository.Refusal) error {
	how := s.o.Resolve(r)
	if len(how) == 0 {
		return r
	}
	msg := ""
	for i, c := range how {
		if i > 0 {
			msg += "; "
		}
		msg += c
	}
	return fmt.Errorf("%w. To resolve: %s", r, msg)
}

// own checks that this server owns repo, claiming one without owner whose
// history the server's log continues.
func (s *Service) own(ctx context.Context, repo *repository.Repository) (repository.Identity, error) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	id, err := repository.Own(ctx, repo, s.id, s.eng, s.claimInfo, s.o.Dir, s.o.Where, s.o.Logger)
	if err != nil {
		return s.id, err
	}
	s.id = id
	if s.refusal.Swap(nil) != nil {
		s.o.Logger.Info("backup repository: this server owns it again; the scanner resumes", "repository", s.o.Where)
	}
	return id, nil
}

func (s *Service) claimInfo(how string) repository.ClaimInfo {
	host, _ := os.Hostname()
	data, _ := filepath.Abs(s.o.Dir)
	return repository.ClaimInfo{How: how, Host: host, Data: data, Now: s.o.Now()}
}

// refuse records a refusal; it is logged as an error once, not at every
// check.
func (s *Service) refuse(r *repository.Refusal) {
	if prev := s.refusal.Swap(r); prev == nil || prev.Reason != r.Reason {
		s.o.Logger.Error("backup: NOT SHIPPING to the repository: "+s.RefusalError(r).Error()+
			" (mail is still accepted and kept for the backup)", "repository", s.o.Where)
	}
}

// bindCatalog gives the scanner a catalog of this repository: a catalog
// built from another repository (the server was pointed at a new one) is
// moved aside to backup-catalog.<old id> and a new one is opened.
func (s *Service) bindCatalog(repo *repository.Repository) error {
	s.catMu.Lock()
	defer s.catMu.Unlock()
	bound, err := s.cat.RepositoryID()
	if err != nil || bound == "" || bound == repo.ID() {
		return err
	}
	dir := filepath.Join(s.o.Dir, repository.CatalogDir)
	aside := dir + "." + bound
	if err := s.cat.Close(); err != nil {
		return err
	}
	if err := os.Rename(dir, aside); err != nil {
		return fmt.Errorf("move aside the catalog of repository %s: %w", bound, err)
	}
	cat, err := catalog.Open(dir, s.catalogOptions())
	if err != nil {
		return err
	}
	s.cat = cat
	s.o.Logger.Warn("the backup repository changed: the catalog of the previous one was moved aside and a new one is built",
		"previous", bound, "moved_to", aside, "repository", s.o.Where, "id", repo.ID())
	return nil
}

// TakeOwnership makes this running server the owner of its repository
// when its redo log continues the repository's history, and wakes the
// service to start shipping. A repository that cannot be taken over fails
// with its *Refusal.
func (s *Service) TakeOwnership(ctx context.Context) (repository.Owner, error) {
	repo := s.repo.Load()
	if repo == nil {
		return repository.Owner{}, errors.New("the backup repository has not answered since the server started; try again when backup status shows it")
	}
	s.idMu.Lock()
	o, err := repository.TakeOwnership(ctx, repo, s.id, s.eng, s.claimInfo(repository.ClaimTakeOver), s.o.Dir)
	if err == nil {
		s.id.Repository, s.id.Epoch = repo.ID(), o.Epoch
	}
	s.idMu.Unlock()
	if err != nil {
		return o, err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return o, nil
}

// Status is the running scanner's live position with the repository's
// sizes and ratios (cached: cheap enough to poll every second), or, while
// no scanner runs, why and how far behind the backup is.
func (s *Service) Status(ctx context.Context, fresh bool) scanner.Status {
	s.catMu.RLock()
	defer s.catMu.RUnlock()
	s.idMu.Lock()
	server, epoch := s.id.Server, s.id.Epoch
	s.idMu.Unlock()
	sc, repo := s.Scanner(), s.repo.Load()
	r := s.refusal.Load()
	if sc != nil && repo != nil && r == nil {
		st := sc.Status(ctx, fresh)
		st.RetentionDays = s.o.RetentionDays
		st.Server, st.Epoch = server, epoch
		return st
	}
	st := scanner.Status{State: "failing", RetentionDays: s.o.RetentionDays, Server: server, Epoch: epoch}
	switch {
	case r != nil:
		st.State, st.LastError, st.Refusal, st.Resolve = "refused", r.Reason, r, s.o.Resolve(r)
		if repo != nil {
			st.Repository = repo.ID()
		}
	case s.failed.Load() != nil:
		st.State, st.LastError = "stopped", *s.failed.Load()
	case s.openErr.Load() != nil:
		st.LastError = *s.openErr.Load()
	default:
		st.State = "starting (opening the repository)"
	}
	if s.cat != nil && s.eng != nil {
		stalledLag(s.cat, s.eng.LastLSN(), s.o.Now(), &st)
	}
	return st
}
