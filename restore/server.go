package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/volopen"
	"github.com/tidemark/tidemark/internal/datadir"
	"github.com/tidemark/tidemark/internal/vfsutil"
	"github.com/tidemark/tidemark/redolog"
)

// ErrNotEmpty is returned when a restore would write into a data directory
// or export destination that already holds something.
var ErrNotEmpty = errors.New("restore: destination is not empty")

// ErrIncomplete is returned by a restore that did not bring back everything
// it was asked for: a whole-server restore that stopped before the end of
// the repository (a record whose blob the repository cannot give, segments
// that outrun the blobs of a copy taken while the scanner wrote, records
// folded into a snapshot by purge), or a restore whose report lists
// unrestored items (Report.Incomplete). The error's text says where the
// restore stopped and why; what was restored is consistent and stays.
var ErrIncomplete = errors.New("restore: incomplete")

// ServerOptions configure Server. Zero fields take the defaults.
type ServerOptions struct {
	// FS is the file system of the new data directory. Default vfs.Default.
	FS vfs.FS
	// At restores the server as of this time. Zero or Latest: everything
	// the repository holds.
	At time.Time
	// Primary is the volume restored blobs go to. Default: a local volume
	// at <data>/volumes/<PrimaryName>, where the engine looks by default.
	Primary hsm.Volume
	// PrimaryName names the primary volume. Default "primary".
	PrimaryName string
	// OpenVolume opens the other volumes the repository's volume registry
	// names, for blobs the history moved there (BlobMoved). Default: local
	// volumes in their recorded place (hsm/volopen); S3 ones need the
	// server's opener, which has their keys.
	OpenVolume hsm.Opener
	// CheckConfig, when set, vets the configuration snapshot (tidemark.toml
	// as read back from the repository, which is untrusted) before it is
	// written: it returns the file to write, or an error that refuses the
	// restore before anything is written. Unset: written as stored.
	CheckConfig func(toml []byte) ([]byte, error)
	// CompressThreshold is the primary volume's zstd threshold (see
	// dedup.Encode). Default -1: off, as the engine's default.
	CompressThreshold int
	// Concurrency is how many blobs are copied at once. Default 8.
	Concurrency int
	// Logger receives progress. Default slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called every 10,000 records and blobs.
	Progress func(phase string, done int)
	// NoVerify skips opening the new data directory with the engine at the
	// end (replay, consistency check and state digest).
	NoVerify bool
}

// ServerReport says what Server rebuilt.
type ServerReport struct {
	Records   int       `json:"records"`
	LastLSN   uint64    `json:"last_lsn"`
	LastTime  time.Time `json:"last_time"`
	Blobs     int       `json:"blobs"`
	BlobBytes int64     `json:"blob_bytes"`
	// Renumbered: the rebuilt log's LSNs are not the repository's (gaps
	// in the repository's LSNs were closed, or corrections were written
	// as records).
	Renumbered bool `json:"renumbered,omitempty"`
	// Corrections counts the SmartScan corrections applied: each became
	// the redo events that make the rebuilt state match it (replay.go).
	Corrections int `json:"corrections,omitempty"`
	// Rewritten counts the repository's redo records written trimmed or
	// replaced, because they referred to folders or items the backup did
	// not hold at that point (mail of an account while its class of
	// service had backup off).
	Rewritten int  `json:"rewritten,omitempty"`
	Config    bool `json:"config"` // tidemark.toml came from a snapshot
	// CutLSN, when CutReason is set, is where the restore stopped short of what
	// the repository's segments reach: the record after it needs a blob
	// the repository cannot give (CutReason). That happens to a copy of a
	// repository taken while the scanner wrote to it (its segments may be
	// newer than its blobs), or to a repository that lost a blob (run
	// tidemark backup verify). Everything up to CutLSN is restored and
	// consistent.
	CutLSN    uint64 `json:"cut_lsn,omitempty"`
	CutReason string `json:"cut_reason,omitempty"`
	// EndLSN is the last redo record at or before At that the repository
	// holds: what a restore that did not stop early reaches.
	EndLSN     uint64    `json:"end_lsn,omitempty"`
	Digest     string    `json:"state_digest,omitempty"`
	Unrestored []Failure `json:"unrestored,omitempty"`
}

var errStop = errors.New("stop")

// Server rebuilds a complete data directory in dataDir from the repository
// alone: the blobs go onto the primary volume first, then the repository's
// redo records are written into a fresh redo log with their original
// times (and LSNs when the repository has no gaps), and the engine, opened
// on the directory, replays them. The tidemark.toml of the newest snapshot
// at or before At is written when the repository has one. dataDir must be
// missing or empty.
//
// A restore that stops before the repository's end (rep.CutLSN) leaves a
// complete, checked data directory of everything up to that record and
// returns the report with an error wrapping ErrIncomplete that names the
// LSN and time it stopped at and why.
func Server(ctx context.Context, repo *repository.Repository, dataDir string, o *ServerOptions) (ServerReport, error) {
	opts := serverDefaults(o)
	var rep ServerReport
	if names, err := opts.FS.List(dataDir); err == nil && len(names) > 0 {
		return rep, fmt.Errorf("restore server into %s: %w", dataDir, ErrNotEmpty)
	}
	if err := checkHistoryStart(ctx, repo); err != nil {
		return rep, err
	}
	var cfgTOML []byte
	if cfg, _, err := repo.ConfigAt(ctx, opts.At); err == nil && len(cfg.TOML) > 0 {
		cfgTOML = cfg.TOML
		if opts.CheckConfig != nil {
			if cfgTOML, err = opts.CheckConfig(cfg.TOML); err != nil {
				return rep, fmt.Errorf("restore server: configuration snapshot refused, nothing written: %w", err)
			}
		}
	}
	if err := vfsutil.MkdirAll(opts.FS, dataDir); err != nil {
		return rep, fmt.Errorf("restore server: %w", err)
	}
	atNs := opts.At.UnixNano()
	if cfgTOML != nil {
		if err := vfsutil.WriteFile(opts.FS, opts.FS.PathJoin(dataDir, datadir.Config), cfgTOML); err != nil {
			return rep, fmt.Errorf("restore server: write config: %w", err)
		}
		rep.Config = true
	}
	env := volopen.Env{FS: opts.FS, DataDir: dataDir, Logger: opts.Logger}
	opener := opts.OpenVolume
	if opener == nil {
		opener = volopen.Local(env)
	}
	primary := opts.Primary
	if primary == nil {
		// The layout a new data directory gets from the engine: small
		// blobs packed into append-only files.
		v, err := volopen.OpenLocal(env, hsm.Spec{Name: opts.PrimaryName, Kind: hsm.KindPrimary, Type: hsm.TypeLocal, Layout: hsm.LayoutPack})
		if err != nil {
			return rep, fmt.Errorf("restore server: primary volume: %w", err)
		}
		defer closeVolume(v)
		primary = v
	}
	pl, err := placements(ctx, repo, atNs, opts.PrimaryName, primary, opener)
	if err != nil {
		return rep, err
	}
	err = copyBlobs(ctx, repo, pl, atNs, opts, &rep)
	pl.close() // the engine opens them itself
	if err != nil {
		return rep, err
	}
	if rep.CutReason != "" {
		opts.Logger.Warn("restore server: stopping before a record whose blob the repository lacks",
			"restored_through_lsn", rep.CutLSN, "reason", rep.CutReason)
	}
	if err := writeLog(ctx, repo, opts.FS.PathJoin(dataDir, datadir.RedoLog), atNs, opts, pl, &rep); err != nil {
		return rep, err
	}
	if opts.NoVerify {
		return rep, rep.stoppedEarly()
	}
	eng, err := engine.Open(dataDir, &engine.Options{FS: opts.FS, Logger: opts.Logger, Primary: primary, OpenVolume: opener,
		PrimaryName: opts.PrimaryName, CompressThreshold: opts.CompressThreshold, CheckpointInterval: -1})
	if err != nil {
		return rep, fmt.Errorf("restore server: open restored engine: %w", err)
	}
	defer eng.Close()
	if err := eng.Check(ctx); err != nil {
		return rep, fmt.Errorf("restore server: restored state: %w", err)
	}
	if rep.Digest, err = eng.StateDigest(ctx); err != nil {
		return rep, fmt.Errorf("restore server: %w", err)
	}
	if err := eng.Checkpoint(ctx); err != nil {
		return rep, fmt.Errorf("restore server: %w", err)
	}
	return rep, rep.stoppedEarly()
}

// checkHistoryStart refuses, before anything is written, a repository whose
// records do not start at LSN 1: a whole-server rebuild replays the history
// from its start. The error says why the start is missing and what to do.
func checkHistoryStart(ctx context.Context, repo *repository.Repository) error {
	var first uint64
	err := repo.Records(ctx, 1, 0, func(rec redolog.Record) error {
		if repository.IsScanType(rec.Type) {
			return nil
		}
		first = rec.LSN
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("restore server: read repository: %w", err)
	}
	if first <= 1 {
		return nil
	}
	why := "the segments before it are missing (run tidemark backup verify on the repository)"
	snaps, err := repo.Snapshots(ctx)
	if err != nil {
		return fmt.Errorf("restore server: list snapshots: %w", err)
	}
	for _, sn := range snaps {
		if sn.LSN+1 >= first {
			why = "purge folded the records before it into a snapshot; to rebuild the accounts as the repository " +
				"holds them at its end, run tidemark init --data NEWDIR, then tidemark restore external REPO --data NEWDIR"
			break
		}
	}
	return fmt.Errorf("restore server: the repository's history starts at lsn %d, and a whole-server rebuild "+
		"replays it from lsn 1: %s: %w", first, why, ErrIncomplete)
}

// stoppedEarly returns the ErrIncomplete error of a restore that was cut
// short of the repository's end, nil for one that was not.
func (rep *ServerReport) stoppedEarly() error {
	if rep.CutReason == "" {
		return nil
	}
	where := "before its first record"
	if rep.Records > 0 {
		where = fmt.Sprintf("at lsn %d (%s)", rep.LastLSN, rep.LastTime.Format("2006-01-02 15:04:05.000 MST"))
	}
	return fmt.Errorf("restore server stopped %s, before the repository's lsn %d: %s "+
		"(run tidemark backup verify on the repository): %w", where, rep.EndLSN, rep.CutReason, ErrIncomplete)
}

func serverDefaults(o *ServerOptions) ServerOptions {
	var c ServerOptions
	if o != nil {
		c = *o
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	c.FS = vfsutil.Private(c.FS)
	if c.At.IsZero() {
		c.At = Latest
	}
	if c.PrimaryName == "" {
		c.PrimaryName = "primary"
	}
	if c.CompressThreshold == 0 {
		c.CompressThreshold = -1
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// copyBlobs puts every blob a record up to atNs names onto the primary
// volume, before any record is written (ARCHITECTURE invariant 3). A blob the
// repository cannot give cuts the restore before the first record that
// needs it (rep.CutLSN), so the rebuilt server is a consistent prefix of
// the repository's history rather than a state with holes in it.
func copyBlobs(ctx context.Context, repo *repository.Repository, pl *placement, atNs int64, o ServerOptions, rep *ServerReport) error {
	type job struct {
		d   dedup.Digest
		lsn uint64 // first record that names the blob
	}
	todo := make(chan job, o.Concurrency*2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var done atomic.Int64
	cutAt := uint64(0) // first LSN that cannot be restored; 0 = none
	for i := 0; i < o.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range todo {
				raw, err := repo.ReadBlob(ctx, j.d)
				if err == nil {
					v, threshold := pl.target(j.d, o.CompressThreshold)
					err = hsm.PutBytes(ctx, v, dedup.BlobName(j.d), dedup.Encode(raw, threshold))
				}
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil && (cutAt == 0 || j.lsn < cutAt) {
						cutAt = j.lsn
						rep.CutReason = fmt.Sprintf("record %d needs blob %s: %s", j.lsn, j.d, blobReason(err))
					}
				} else {
					rep.Blobs++
					rep.BlobBytes += int64(len(raw))
				}
				mu.Unlock()
				if n := done.Add(1); o.Progress != nil && n%10000 == 0 {
					o.Progress("blobs", int(n))
				}
			}
		}()
	}
	seen := map[dedup.Digest]bool{}
	err := repo.Records(ctx, 1, 0, func(rec redolog.Record) error {
		if rec.Time > atNs {
			return errStop
		}
		if !repository.IsScanType(rec.Type) {
			rep.EndLSN = rec.LSN
		}
		var d dedup.Digest
		switch {
		case rec.Type == uint16(event.TypeMessageAdded):
			ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
			if err != nil {
				return fmt.Errorf("record %d: %w", rec.LSN, err)
			}
			d = dedup.Digest(ev.(event.MessageAdded).Digest)
		case rec.Type == repository.TypeScanItem:
			// A SmartScan correction may add an item (replay.go).
			v, err := repository.DecodeScan(rec.Type, rec.Payload)
			if err != nil {
				return fmt.Errorf("scan record at lsn %d: %w", rec.LSN, err)
			}
			it := v.(*repository.ScanItem)
			if it.Deleted {
				return nil
			}
			d = dedup.Digest(it.Digest)
		default:
			return nil
		}
		if !seen[d] {
			seen[d] = true
			select {
			case todo <- job{d, rec.LSN}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	close(todo)
	wg.Wait()
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("restore server: read repository: %w", err)
	}
	if cutAt != 0 {
		rep.CutLSN = cutAt - 1
	}
	return ctx.Err()
}

// writeLog writes the repository's redo records up to atNs (and up to
// rep.CutLSN when set) into a new redo log at dir, in batches of one write
// and one fsync each, with the SmartScan corrections in between written
// as the redo events that apply them (replayState). Every record keeps its
// commit time; the events of a correction take the scan's.
func writeLog(ctx context.Context, repo *repository.Repository, dir string, atNs int64, o ServerOptions, pl *placement, rep *ServerReport) error {
	const maxBatch, maxBatchBytes = 4096, 4 << 20
	lg, err := redolog.Open(dir, &redolog.Options{FS: o.FS, Logger: o.Logger})
	if err != nil {
		return fmt.Errorf("restore server: open redo log: %w", err)
	}
	var batch []redolog.Entry
	var batchBytes int
	var lsns []uint64 // repository LSN of each batched entry
	st := newReplayState()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		recs, err := lg.AppendBatch(batch)
		if err != nil {
			return fmt.Errorf("append lsn %d: %w", lsns[0], err)
		}
		for i, r := range recs {
			if r.LSN != lsns[i] {
				rep.Renumbered = true
			}
		}
		batch, lsns, batchBytes = batch[:0], lsns[:0], 0
		return nil
	}
	err = repo.Records(ctx, 1, 0, func(rec redolog.Record) error {
		if rec.Time > atNs || (rep.CutReason != "" && rec.LSN > rep.CutLSN) {
			return errStop
		}
		add := func(typ uint16, payload []byte, lsn uint64) {
			batch = append(batch, redolog.Entry{Type: typ, Payload: payload, Time: rec.Time})
			lsns = append(lsns, lsn)
			batchBytes += len(payload)
		}
		addEvents := func() error {
			for _, ev := range st.take() {
				payload, err := event.Encode(ev)
				if err != nil {
					return fmt.Errorf("record %d: %v: %w", rec.LSN, ev.Type(), err)
				}
				add(uint16(ev.Type()), payload, 0) // LSN 0: not the repository's
			}
			return nil
		}
		if repository.IsScanType(rec.Type) {
			v, err := repository.DecodeScan(rec.Type, rec.Payload)
			if err != nil {
				return fmt.Errorf("scan record at lsn %d: %w", rec.LSN, err)
			}
			rep.Corrections++
			st.scan(v)
			return addEvents()
		}
		if rep.Records == 0 && rec.LSN != 1 {
			return fmt.Errorf("first record held is lsn %d: %w", rec.LSN, ErrIncomplete)
		}
		keep := true
		ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
		switch {
		case err == nil:
			keep = st.redo(ev)
		case !errors.Is(err, event.ErrUnknownType): // a newer writer's record goes as it is
			return fmt.Errorf("record %d: %w", rec.LSN, err)
		}
		if keep {
			payload, err := toPrimary(rec, o.PrimaryName, pl.registered)
			if err != nil {
				return err
			}
			// Records may reuse its buffers between segments; a batch can
			// span segments.
			add(rec.Type, bytes.Clone(payload), rec.LSN)
		} else {
			rep.Rewritten++
		}
		if err := addEvents(); err != nil {
			return err
		}
		rep.Records++
		rep.LastLSN, rep.LastTime = rec.LSN, time.Unix(0, rec.Time).UTC()
		if o.Progress != nil && rep.Records%10000 == 0 {
			o.Progress("records", rep.Records)
		}
		if len(batch) >= maxBatch || batchBytes >= maxBatchBytes {
			return flush()
		}
		return nil
	})
	if err == nil || errors.Is(err, errStop) {
		err = flush()
	}
	cerr := lg.Close()
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("restore server: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("restore server: close redo log: %w", cerr)
	}
	return nil
}

// toPrimary rewrites the names of volumes the history never registered
// (volumes a server was given outside the registry) in blob records to the
// primary volume, where placement put those blobs.
func toPrimary(rec redolog.Record, primary string, registered func(string) bool) ([]byte, error) {
	switch event.Type(rec.Type) {
	case event.TypeMessageAdded, event.TypeBlobMoved:
	default:
		return rec.Payload, nil
	}
	ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
	if err != nil {
		return nil, fmt.Errorf("record %d: %w", rec.LSN, err)
	}
	switch e := ev.(type) {
	case event.MessageAdded:
		if e.Volume == "" || e.Volume == primary || registered(e.Volume) {
			return rec.Payload, nil
		}
		e.Volume = primary
		ev = e
	case event.BlobMoved:
		if registered(e.To) && (registered(e.From) || e.From == primary) {
			return rec.Payload, nil
		}
		if !registered(e.From) {
			e.From = primary
		}
		if !registered(e.To) {
			e.To = primary
		}
		ev = e
	}
	return event.Encode(ev)
}
