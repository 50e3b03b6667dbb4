package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm/packvol"
	"github.com/tidemark/tidemark/redolog"
)

// keptRecords stands in for a backup repository in these tests: the
// records as the scanner stores them (MessageAdded without blob bytes) and
// the blobs. The CLI tests run the same repair against a real repository.
type keptRecords struct {
	recs  []redolog.Record
	blobs map[dedup.Digest][]byte
}

func (k *keptRecords) Records(ctx context.Context, from, to uint64, fn func(redolog.Record) error) error {
	for _, r := range k.recs {
		if r.LSN >= from && r.LSN <= to {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (k *keptRecords) ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error) {
	if b, ok := k.blobs[d]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("blob %s: not held", d)
}

// keepLog reads the whole redo log of dir as a backup would keep it.
func keepLog(t *testing.T, fs vfs.FS, dir string) *keptRecords {
	t.Helper()
	r, err := redolog.ReadDir(fs, dir+"/"+RedoDir, 0)
	must(t, err)
	defer r.Close()
	k := &keptRecords{blobs: map[dedup.Digest][]byte{}}
	for {
		rec, err := r.Next(ctx)
		if err != nil {
			break
		}
		if event.Type(rec.Type) == event.TypeMessageAdded {
			ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
			must(t, err)
			m := ev.(event.MessageAdded)
			if len(m.Blob) > 0 {
				k.blobs[dedup.Digest(m.Digest)] = m.Blob
			}
			m.Blob = nil
			rec.Payload = event.MustEncode(m)
		}
		k.recs = append(k.recs, rec)
	}
	return k
}

// damageLastRecord flips one payload byte of the last record of the
// active segment, as a bad sector would.
func damageLastRecord(t *testing.T, fs *vfs.MemFS, dir string) uint64 {
	t.Helper()
	names, err := fs.List(dir + "/" + RedoDir)
	must(t, err)
	var seg string
	for _, n := range names {
		if strings.HasSuffix(n, ".log") && n > seg {
			seg = n
		}
	}
	b, err := fs.UnsafeGetFileDataBuffer(dir + "/" + RedoDir + "/" + seg)
	must(t, err)
	off, last := 24, 0
	var lsn uint64
	for off < len(b) {
		r, n, err := redolog.DecodeRecord(b[off:])
		must(t, err)
		last, lsn = off, r.LSN
		off += n
	}
	if lsn == 0 {
		t.Fatalf("active segment %s holds no record", seg)
	}
	b[last+redolog.RecordOverhead+1] ^= 0x10
	return lsn
}

// behindDir makes a data directory whose last record (a delivery) is
// damaged after the projection applied it, and returns the mailbox as it
// was, the backup's view of the log and the damaged LSN.
func behindDir(t *testing.T) (*vfs.MemFS, string, *keptRecords, uint64) {
	fs := vfs.NewMem()
	e := openTest(t, fs, "data")
	must(t, e.CreateDomain(ctx, "example.org"))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "secret"})
	must(t, err)
	for i := 0; i < 3; i++ {
		body := fmt.Appendf(nil, "Subject: %d\r\n\r\nbody %d\r\n", i, i)
		_, err := e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: body, InternalDate: time.Unix(1e9, 0)})
		must(t, err)
	}
	want := mailboxDump(t, e)
	must(t, e.Close())
	kept := keepLog(t, fs, "data")
	lsn := damageLastRecord(t, fs, "data")
	_, err = Open("data", testOptions(fs))
	var behind *LogBehindError
	if !errors.As(err, &behind) || !errors.Is(err, ErrCorrupt) || behind.Applied != lsn || behind.LogLast != lsn-1 {
		t.Fatalf("open with a damaged last record: %v", err)
	}
	return fs, want, kept, lsn
}

func TestRepairLogFromBackup(t *testing.T) {
	fs, want, kept, lsn := behindDir(t)
	// The primary volume lost the blob of the damaged record too: repair
	// copies it back from the backup.
	last := kept.recs[len(kept.recs)-1]
	ev, err := event.Decode(event.Type(last.Type), last.Payload)
	must(t, err)
	d := dedup.Digest(ev.(event.MessageAdded).Digest)
	pv, err := packvol.New(fs, "data/volumes/primary", nil)
	must(t, err)
	must(t, pv.Delete(ctx, dedup.BlobName(d)))
	must(t, pv.Close())

	// A backup that stops short repairs nothing.
	short := &keptRecords{recs: kept.recs[:len(kept.recs)-1], blobs: kept.blobs}
	rep, err := RepairLog(ctx, "data", testOptions(fs), RepairOptions{Backup: short})
	if !errors.Is(err, ErrNotRepaired) || !strings.Contains(rep.BackupMissing, fmt.Sprintf("does not hold lsn %d", lsn)) {
		t.Fatalf("repair from a backup without lsn %d: %+v %v", lsn, rep, err)
	}
	if _, err := Open("data", testOptions(fs)); !errors.As(err, new(*LogBehindError)) {
		t.Fatalf("a refused repair changed the directory: %v", err)
	}

	rep, err = RepairLog(ctx, "data", testOptions(fs), RepairOptions{Backup: kept})
	if err != nil || rep.Restored != 1 || rep.BlobsCopied != 1 || rep.Gap != nil || rep.Applied != lsn {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	vr, err := redolog.Verify(fs, "data/"+RedoDir)
	if err != nil || vr.LastLSN != lsn || len(vr.Gaps) != 0 {
		t.Fatalf("verify: %+v %v", vr, err)
	}
	r, err := redolog.ReadDir(fs, "data/"+RedoDir, lsn)
	must(t, err)
	got, err := r.Next(ctx)
	r.Close()
	if err != nil || got.LSN != lsn || got.Time != last.Time || string(got.Payload) != string(last.Payload) {
		t.Fatalf("written back: %+v %v, want lsn %d time %d", got, err, lsn, last.Time)
	}
	e := openTest(t, fs, "data")
	defer e.Close()
	if got := mailboxDump(t, e); got != want {
		t.Fatalf("mailbox after repair:\n%s\nwant:\n%s", got, want)
	}
	must(t, e.Check(ctx))
	if rep, err := RepairLog(ctx, "data", testOptions(fs), RepairOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("repair of an open directory: %+v %v", rep, err)
	}
}

func TestRepairLogAcceptGap(t *testing.T) {
	fs, want, _, lsn := behindDir(t)
	rep, err := RepairLog(ctx, "data", testOptions(fs), RepairOptions{})
	if !errors.Is(err, ErrNotRepaired) || rep.Gap != nil {
		t.Fatalf("repair without a backup or --accept-gap: %+v %v", rep, err)
	}
	rep, err = RepairLog(ctx, "data", testOptions(fs), RepairOptions{AcceptGap: true})
	if err != nil || rep.Gap == nil || rep.Gap.From != lsn || rep.Gap.To != lsn || !strings.Contains(rep.Gap.Reason, "no backup") {
		t.Fatalf("repair with a gap: %+v %v", rep, err)
	}
	e := openTest(t, fs, "data")
	if got := mailboxDump(t, e); got != want {
		t.Fatalf("mailbox after repair:\n%s\nwant:\n%s", got, want)
	}
	a, err := e.LookupAccount(ctx, "alice@example.org")
	must(t, err)
	_, err = e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID}, Body: []byte("Subject: after\r\n\r\nafter\r\n")})
	must(t, err)
	if e.AppliedLSN() != lsn+1 {
		t.Fatalf("first record after the gap at lsn %d, want %d", e.AppliedLSN(), lsn+1)
	}
	want = mailboxDump(t, e)
	must(t, e.Close())
	// The gap is durable and replay steps over it.
	vr, err := redolog.Verify(fs, "data/"+RedoDir)
	if err != nil || len(vr.Gaps) != 1 || vr.Gaps[0].From != lsn || vr.LastLSN != lsn+1 {
		t.Fatalf("verify: %+v %v", vr, err)
	}
	e = openTest(t, fs, "data")
	defer e.Close()
	if got := mailboxDump(t, e); got != want {
		t.Fatalf("mailbox after reopen:\n%s\nwant:\n%s", got, want)
	}
	must(t, e.Check(ctx))
}

// TestRepairLogExcludedAccount: when some account's class of service has
// backup off, the backup's copy of a message record may lack its
// recipients there, so repair does not take it for the lost record.
func TestRepairLogExcludedAccount(t *testing.T) {
	fs := vfs.NewMem()
	e := openTest(t, fs, "data")
	must(t, e.CreateDomain(ctx, "example.org"))
	must(t, e.CreateCOS(ctx, event.COS{Name: "nobackup", Backup: false}))
	a, err := e.CreateAccount(ctx, AccountSpec{Address: "alice@example.org", Password: "secret"})
	must(t, err)
	b, err := e.CreateAccount(ctx, AccountSpec{Address: "bob@example.org", Password: "secret", COS: "nobackup"})
	must(t, err)
	_, err = e.Deliver(ctx, Delivery{Recipients: []uint64{a.ID, b.ID}, Body: []byte("Subject: both\r\n\r\nboth\r\n")})
	must(t, err)
	must(t, e.Close())
	kept := keepLog(t, fs, "data")
	lsn := damageLastRecord(t, fs, "data")
	rep, err := RepairLog(ctx, "data", testOptions(fs), RepairOptions{Backup: kept})
	if !errors.Is(err, ErrNotRepaired) || !strings.Contains(rep.BackupMissing, "bob@example.org") ||
		!strings.Contains(rep.BackupMissing, fmt.Sprintf("lsn %d", lsn)) {
		t.Fatalf("repair with an account not backed up: %+v %v", rep, err)
	}
}
