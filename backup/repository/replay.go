package repository

import (
	"context"
	"sort"

	"github.com/tidemark/tidemark/redolog"
)

// Records calls fn for every repository record with from <= LSN <= to, in
// the order the catalog applies them: redo records from a chain of
// non-overlapping segments, and after the redo record of each LSN the scan
// records positioned there (IsScanType tells them apart). Positions no
// segment covers (records of accounts not backed up, a stretch replaced by a
// SmartScan) are simply absent. to == 0 means to the end.
func (r *Repository) Records(ctx context.Context, from, to uint64, fn func(redolog.Record) error) error {
	start := Position{}
	if from > 0 {
		start.LSN = from - 1
		start.ScanTime = 1<<63 - 1
	}
	return r.Replay(ctx, start, to, func(rec redolog.Record, _ int64) error { return fn(rec) })
}

// replay calls fn for every record after pos (scans after (LSN, ScanTime))
// up to to (0 = all). For scan records scanTime is the scan's time, else 0.
func (r *Repository) Replay(ctx context.Context, pos Position, to uint64, fn func(rec redolog.Record, scanTime int64) error) error {
	if to == 0 {
		to = ^uint64(0)
	}
	segs, err := r.Segments(ctx)
	if err != nil {
		return err
	}
	scans, err := r.Scans(ctx)
	if err != nil {
		return err
	}
	var todo []SegmentInfo
	for _, s := range scans {
		if pos.before(s.First, s.Time) && s.First <= to {
			todo = append(todo, s)
		}
	}
	sort.SliceStable(todo, func(i, j int) bool {
		if todo[i].First != todo[j].First {
			return todo[i].First < todo[j].First
		}
		return todo[i].Time < todo[j].Time
	})
	// flushScans emits every pending scan positioned before lsn.
	flushScans := func(lsn uint64) error {
		for len(todo) > 0 && todo[0].First < lsn {
			s := todo[0]
			todo = todo[1:]
			_, recs, err := r.ReadRecords(ctx, s.Name)
			if err != nil {
				return err
			}
			for _, rec := range recs {
				if err := fn(rec, s.Time); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, s := range Chain(segs, pos.LSN) {
		if s.First > to {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		_, recs, err := r.ReadRecords(ctx, s.Name)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if rec.LSN <= pos.LSN {
				continue
			}
			if rec.LSN > to {
				break
			}
			if err := flushScans(rec.LSN); err != nil {
				return err
			}
			if err := fn(rec, 0); err != nil {
				return err
			}
		}
	}
	if to != ^uint64(0) {
		return flushScans(to + 1)
	}
	return flushScans(^uint64(0))
}

// position is how far the catalog has applied the repository: every record
// up to LSN and every scan at (LSN, ScanTime) or before.
type Position struct {
	LSN      uint64 `cbor:"1,keyasint"`
	ScanTime int64  `cbor:"2,keyasint,omitempty"`
	Time     int64  `cbor:"3,keyasint"` // time of the last applied record or scan
}

// after reports whether (lsn, scanTime) comes after p.
func (p Position) before(lsn uint64, scanTime int64) bool {
	return lsn > p.LSN || (lsn == p.LSN && scanTime > p.ScanTime)
}
