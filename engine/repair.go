package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// Repairing a redo log that ends before the projection.
//
// The torn tail rule cuts a damaged last record as if it were an
// unacknowledged write, but the projection may have applied it already:
// then Open fails with a *LogBehindError. RepairLog is the way back, with
// the server stopped. When a backup holds every missing record, they are
// written back with their original LSNs and commit times, as the backup
// stores them (MessageAdded without its blob bytes, which a replay reads
// from the volume: every blob they name is checked on the primary volume
// and copied back from the backup if missing or damaged). Otherwise, only
// when asked (RepairOptions.AcceptGap), the log records a gap for the
// missing LSNs (redolog.Log.AcceptGap) and goes on after the projection's
// applied LSN; the backup scanner, which cannot ship records it cannot
// read, runs a SmartScan when it reaches the gap.

// LogBehindError is returned by Open when the projection has applied
// records the redo log does not hold: its last records were lost, usually
// a damaged last record cut as a torn tail. It wraps ErrCorrupt. RepairLog
// brings the log level with the projection.
type LogBehindError struct {
	Applied uint64 // the projection's applied LSN
	LogLast uint64 // the redo log's last LSN
}

func (e *LogBehindError) Error() string {
	return fmt.Sprintf("engine: the redo log ends at lsn %d but the projection applied records up to lsn %d: "+
		"the log lost its last %d record(s) (a damaged last record is cut on open as a torn tail); "+
		"repair the log from the backup repository, or record the gap", e.LogLast, e.Applied, e.Applied-e.LogLast)
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *LogBehindError) Unwrap() error { return ErrCorrupt }

// ErrNotRepaired is returned by RepairLog when the backup cannot give the
// missing records and a gap was not accepted; the error says why.
var ErrNotRepaired = errors.New("engine: redo log not repaired")

// RepairSource is a backup that may hold the records a redo log lost.
type RepairSource interface {
	// Records calls fn for every redo record held with from <= LSN <= to,
	// in LSN order, as the backup stores them (blob bytes replaced by the
	// digest). Records the backup left out are not called.
	Records(ctx context.Context, from, to uint64, fn func(redolog.Record) error) error
	// ReadBlob returns the raw bytes of a blob.
	ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error)
}

// RepairOptions say how RepairLog may repair.
type RepairOptions struct {
	// Backup, when not nil, is asked for the missing records first.
	Backup RepairSource
	// AcceptGap lets RepairLog record a gap when Backup is nil or does
	// not hold every missing record.
	AcceptGap bool
	// Reason is kept with the gap. Default: what was lost and why.
	Reason string
}

// RepairReport says what RepairLog found and did.
type RepairReport struct {
	LogLast  uint64 `json:"log_last_lsn"` // the log's last LSN before the repair
	Applied  uint64 `json:"applied_lsn"`  // the projection's applied LSN
	Restored int    `json:"restored"`     // records written back from the backup
	// BlobsCopied counts blobs of restored records the primary volume
	// lacked (or held damaged), copied back from the backup.
	BlobsCopied int `json:"blobs_copied"`
	// Gap is the gap recorded with AcceptGap.
	Gap *redolog.Gap `json:"gap,omitempty"`
	// BackupMissing says why the backup could not give the records; empty
	// when it could or was not asked.
	BackupMissing string `json:"backup_missing,omitempty"`
}

// RepairLog brings the redo log of the data directory level with the
// projection when the log lost its last records (see LogBehindError). It
// takes the directory's lock, so the server must be stopped. A log that
// is level already is left as it is (Restored 0, no Gap). When the backup
// does not hold every missing record and AcceptGap is false it changes
// nothing and returns an error wrapping ErrNotRepaired.
func RepairLog(ctx context.Context, dataDir string, opts *Options, ro RepairOptions) (rep RepairReport, err error) {
	o := opts.withDefaults()
	e := &Engine{dir: dataDir, opts: o, fs: o.FS}
	lock, err := o.FS.Lock(o.FS.PathJoin(dataDir, LockFile))
	if err != nil {
		return rep, fmt.Errorf("%w: %s: %v", ErrLocked, dataDir, err)
	}
	e.lock = lock
	defer func() {
		if cerr := e.closeStores(); err == nil && cerr != nil {
			err = fmt.Errorf("engine: repair: %w", cerr)
		}
	}()
	if e.log, err = redolog.Open(o.FS.PathJoin(dataDir, RedoDir), &o.RedoLog); err != nil {
		return rep, fmt.Errorf("engine: repair: open redo log: %w", err)
	}
	if err := e.openPebble(); err != nil {
		return rep, err
	}
	if err := e.openVolumes(ctx); err != nil {
		return rep, err
	}
	applied, _, err := getU64(e.db, keyApplied)
	if err != nil {
		return rep, fmt.Errorf("engine: read applied lsn: %w", err)
	}
	rep.Applied, rep.LogLast = applied, e.log.LastLSN()
	if applied <= rep.LogLast {
		return rep, nil
	}
	from := rep.LogLast + 1
	if ro.Backup != nil {
		recs, why, err := e.fetchMissing(ctx, ro.Backup, from, applied)
		if err != nil {
			return rep, err
		}
		if why == "" {
			return rep, e.writeBack(ctx, ro.Backup, recs, &rep)
		}
		rep.BackupMissing = why
	} else {
		rep.BackupMissing = "no backup repository to restore the records from"
	}
	if !ro.AcceptGap {
		return rep, fmt.Errorf("%w: lsn %d..%d: %s", ErrNotRepaired, from, applied, rep.BackupMissing)
	}
	reason := ro.Reason
	if reason == "" {
		reason = fmt.Sprintf("redo log ended at lsn %d, projection had applied through lsn %d; records not restored: %s",
			rep.LogLast, applied, rep.BackupMissing)
		if len(reason) > redolog.MaxGapReason {
			reason = strings.ToValidUTF8(reason[:redolog.MaxGapReason], "")
		}
	}
	g, err := e.log.AcceptGap(applied, reason)
	if err != nil {
		return rep, fmt.Errorf("engine: repair: %w", err)
	}
	rep.Gap = &g
	return rep, nil
}

// fetchMissing reads the records from..to from the backup and checks that
// they can stand in the log: every LSN present once, in order, each an
// event this engine decodes, times increasing after the log's last. why
// says what is missing when they cannot.
func (e *Engine) fetchMissing(ctx context.Context, src RepairSource, from, to uint64) (recs []redolog.Record, why string, err error) {
	const maxRecords = 1 << 20 // more than a lost tail can hold: stop a hostile repository early
	want := from
	prevTime := e.log.LastTime().UnixNano()
	if e.log.LastTime().IsZero() {
		prevTime = 0
	}
	errStop := errors.New("stop")
	err = src.Records(ctx, from, to, func(r redolog.Record) error {
		switch {
		case r.LSN < want:
			return nil // a repository may repeat a position (scan records, overlapping segments)
		case r.LSN > to:
			return errStop
		case r.LSN != want:
			why = fmt.Sprintf("the backup repository does not hold lsn %d (it holds no record there: one it left out, for an account not backed up, or one it never received)", want)
			return errStop
		case r.Time <= prevTime:
			why = fmt.Sprintf("the backup's lsn %d has time %d, not after the previous record's %d", r.LSN, r.Time, prevTime)
			return errStop
		case len(recs) >= maxRecords:
			why = "the backup would give more records than a lost tail can hold"
			return errStop
		}
		if r.Type == redolog.TypeGap {
			why = fmt.Sprintf("the backup's lsn %d has the reserved gap type", r.LSN)
			return errStop
		}
		if _, err := event.Decode(event.Type(r.Type), r.Payload); err != nil {
			why = fmt.Sprintf("the backup's lsn %d is not an event this server reads: %v", r.LSN, err)
			return errStop
		}
		r.Payload = append([]byte(nil), r.Payload...)
		recs = append(recs, r)
		prevTime = r.Time
		want++
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, "", fmt.Errorf("engine: repair: read backup: %w", err)
	}
	if why == "" && want <= to {
		why = fmt.Sprintf("the backup repository does not hold lsn %d (its records end before it: the scanner had not shipped it, or was off)", want)
	}
	if why != "" {
		return nil, why, nil
	}
	if acct, err := e.anyExcluded(ctx); err != nil {
		return nil, "", err
	} else if acct != "" {
		for _, r := range recs {
			if event.Type(r.Type) == event.TypeMessageAdded {
				return nil, fmt.Sprintf("the backup's copy of lsn %d, a message, leaves out recipients whose class of service has backup off (such as %s), so it may not be the record the server wrote", r.LSN, acct), nil
			}
		}
	}
	return recs, "", nil
}

// anyExcluded returns the address of an account whose class of service
// has backup off, "" if there is none. The backup stores messages without
// such recipients, so its copy of a message record is complete only when
// there is none.
func (e *Engine) anyExcluded(ctx context.Context) (string, error) {
	coses, err := e.ListCOS(ctx)
	if err != nil {
		return "", fmt.Errorf("engine: repair: %w", err)
	}
	off := map[string]bool{}
	for _, c := range coses {
		if !c.Backup {
			off[c.Name] = true
		}
	}
	if len(off) == 0 {
		return "", nil
	}
	accts, err := e.ListAccounts(ctx, "")
	if err != nil {
		return "", fmt.Errorf("engine: repair: %w", err)
	}
	sort.Slice(accts, func(i, j int) bool { return accts[i].Address < accts[j].Address })
	for _, a := range accts {
		if a.COS != "" && off[a.COS] {
			return a.Address, nil
		}
	}
	return "", nil
}

// writeBack makes sure every blob the records name that the projection
// keeps on the primary volume is there intact (copying it from the backup
// otherwise, durably), then appends the records with their LSNs and times
// in one batch.
func (e *Engine) writeBack(ctx context.Context, src RepairSource, recs []redolog.Record, rep *RepairReport) error {
	seen := map[dedup.Digest]bool{}
	for _, r := range recs {
		if event.Type(r.Type) != event.TypeMessageAdded {
			continue
		}
		ev, _ := event.Decode(event.Type(r.Type), r.Payload)
		d := dedup.Digest(ev.(event.MessageAdded).Digest)
		if seen[d] {
			continue
		}
		seen[d] = true
		var br blobRec
		ok, err := getVal(e.db, blobKey(d), &br)
		if err != nil {
			return fmt.Errorf("engine: repair: %w", err)
		}
		if !ok || br.Volume != e.prim().name || e.copyIntact(ctx, e.prim().vol, d) {
			continue // collected since, moved to another volume, or intact
		}
		raw, err := src.ReadBlob(ctx, d)
		if err != nil {
			return fmt.Errorf("engine: repair: blob %s of lsn %d is not on the primary volume and the backup cannot give it: %w", d, r.LSN, err)
		}
		if dedup.Sum(raw) != d {
			return fmt.Errorf("engine: repair: the backup's blob %s does not hash to its name", d)
		}
		if err := e.putInline(ctx, inlineBlob{d: d, raw: raw}, true); err != nil {
			return fmt.Errorf("engine: repair: %w", err)
		}
		rep.BlobsCopied++
	}
	entries := make([]redolog.Entry, len(recs))
	for i, r := range recs {
		entries[i] = redolog.Entry{Type: r.Type, Payload: r.Payload, Time: r.Time}
	}
	got, err := e.log.AppendBatch(entries)
	if err != nil {
		return fmt.Errorf("engine: repair: append: %w", err)
	}
	for i, r := range got {
		if r.LSN != recs[i].LSN || r.Time != recs[i].Time {
			return fmt.Errorf("%w: repair wrote lsn %d at lsn %d time %d, want time %d", ErrCorrupt, recs[i].LSN, r.LSN, r.Time, recs[i].Time)
		}
	}
	rep.Restored = len(got)
	return nil
}
