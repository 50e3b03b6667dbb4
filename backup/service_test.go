package backup_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
)

// serviceRig is a data directory whose engine is told the backup
// service's safe position, as serve wires it.
type serviceRig struct {
	t    *testing.T
	dir  string
	vol  hsm.Volume
	eng  *engine.Engine
	svc  *backup.Service
	acct uint64
}

func startService(t *testing.T, dir string, vol hsm.Volume) *serviceRig {
	t.Helper()
	r := &serviceRig{t: t, dir: dir, vol: vol}
	svc, err := backup.NewService(backup.ServiceOptions{
		Dir:   dir,
		Where: "test repository",
		Open: func(ctx context.Context) (*repository.Repository, error) {
			return repository.Init(ctx, vol, time.Now())
		},
		Resolve: func(*repository.Refusal) []string { return []string{"take ownership"} },
		Scanner: scanner.Options{ShipInterval: 2 * time.Millisecond, NoCompaction: true, SnapshotInterval: -1, Logger: backuptest.Quiet},
		Recheck: 20 * time.Millisecond,
		Logger:  backuptest.Quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if svc.SafeLSN() != 0 {
		t.Fatal("a service that never ran lets the engine drop records")
	}
	r.svc = svc
	eo := &engine.Options{SafeLSN: svc.SafeLSN}
	eo.RedoLog.SegmentSize = 512 // archived segments to trim
	r.eng, err = engine.Open(dir, eo)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background(), enginesrc.New(r.eng)); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *serviceRig) close() {
	if err := r.svc.Close(); err != nil {
		r.t.Error(err)
	}
	if err := r.eng.Close(); err != nil {
		r.t.Error(err)
	}
}

func (r *serviceRig) deliver(n int) {
	r.t.Helper()
	ctx := context.Background()
	if r.acct == 0 {
		if err := r.eng.CreateDomain(ctx, "example.org"); err != nil {
			r.t.Fatal(err)
		}
		a, err := r.eng.CreateAccount(ctx, engine.AccountSpec{Address: "svc@example.org", Password: "pw"})
		if err != nil {
			r.t.Fatal(err)
		}
		r.acct = a.ID
	}
	for i := 0; i < n; i++ {
		if _, err := r.eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{r.acct}, Body: backuptest.Message(i, 800)}); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *serviceRig) waitShipped() scanner.Status {
	r.t.Helper()
	want := r.eng.LogLastLSN()
	var st scanner.Status
	if !backuptest.Poll(func() bool { st = r.svc.Status(context.Background(), false); return st.ShippedLSN >= want }) {
		r.t.Fatalf("service shipped %d of %d: %+v", st.ShippedLSN, want, st)
	}
	return st
}

// TestServiceShipsRefusesAndResumes runs the service as serve does: it
// ships, holds the engine's redo log until shipped, refuses a repository
// another server took over (mail still accepted, status says why and how
// to resolve, the log is kept), and ships again once this server takes
// ownership back.
func TestServiceShipsRefusesAndResumes(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	vol, err := localvol.New(vfs.Default, filepath.Join(t.TempDir(), "repo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := startService(t, dir, vol)
	r.deliver(5)
	st := r.waitShipped()
	if st.State != "running" || st.Server == "" || st.Epoch != 1 || st.LagRecords != 0 {
		t.Fatalf("running status: %+v", st)
	}
	if r.svc.SafeLSN() < st.ShippedLSN || r.svc.NotReady() != nil || r.svc.Catalog() == nil {
		t.Fatalf("safe lsn %d, shipped %d, not ready %v", r.svc.SafeLSN(), st.ShippedLSN, r.svc.NotReady())
	}
	// Shipped records go from the redo log once checkpointed.
	if err := r.eng.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.TrimLog(); err != nil {
		t.Fatal(err)
	}
	if r.eng.LogFirstLSN() <= 1 {
		t.Fatalf("nothing trimmed: log starts at %d, shipped %d", r.eng.LogFirstLSN(), st.ShippedLSN)
	}
	r.close()

	// Another data directory with the same history (a rebuilt copy) takes
	// the repository over while this server is stopped.
	repo, err := repository.Open(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := repository.NewIdentity(time.Now())
	if _, _, err := repo.Claim(ctx, other, repository.ClaimInfo{How: repository.ClaimTakeOver, Now: time.Now()}, func(repository.Identity) error { return nil }); err != nil {
		t.Fatal(err)
	}

	acct := r.acct
	r = startService(t, dir, vol)
	defer r.close()
	r.acct = acct
	r.deliver(3)
	var refused scanner.Status
	if !backuptest.Poll(func() bool { refused = r.svc.Status(ctx, false); return refused.State == "refused" }) {
		t.Fatalf("status after another server claimed the repository: %+v", refused)
	}
	if refused.Refusal == nil || !refused.Refusal.CanTakeOwnership || len(refused.Resolve) != 1 || refused.LagRecords == 0 {
		t.Fatalf("refused status: %+v", refused)
	}
	if _, ok := errors.AsType[*repository.Refusal](r.svc.NotReady()); !ok || r.svc.Scanner() != nil {
		t.Fatalf("not ready: %v, scanner %v", r.svc.NotReady(), r.svc.Scanner())
	}
	// The engine keeps what the backup has not shipped.
	if err := r.eng.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.TrimLog(); err != nil {
		t.Fatal(err)
	}
	if first := r.eng.LogFirstLSN(); first > refused.ShippedLSN+1 || r.eng.LogLastLSN() <= refused.ShippedLSN {
		t.Fatalf("log trimmed to %d while the backup holds %d", first, refused.ShippedLSN)
	}

	o, err := r.svc.TakeOwnership(ctx)
	if err != nil || o.Server == other.Server {
		t.Fatalf("take ownership: %+v, %v", o, err)
	}
	if st := r.waitShipped(); st.State != "running" || st.Epoch != o.Epoch {
		t.Fatalf("after taking ownership: %+v", st)
	}
}
