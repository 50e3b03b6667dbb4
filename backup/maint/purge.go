package maint

import (
	"context"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
)

// DefaultRetention is how long versions of deleted items are kept.
const DefaultRetention = 30 * 24 * time.Hour

// PurgeOptions configures Purge.
type PurgeOptions struct {
	// Retention keeps versions of items deleted less than this long ago; 0
	// keeps everything forever (Purge returns at once).
	Retention time.Duration
	// Now is the current time.
	Now time.Time
	// Config is stored with the snapshot purge writes: tidemark.toml and
	// the provisioning, like every snapshot (readers take the newest one
	// for `backup config`, so one without provisioning hides the accounts).
	Config repository.ConfigSnapshot
	// Grace is how long the segments, scans and snapshots purge folds into
	// its snapshot, the packs it rewrites and the loose blobs it finds dead
	// are kept before they are deleted, so that a copy of the
	// repository taken while purge runs stays restorable (backup/catalog, grace.go). The
	// deletion itself happens at the scanner's next maintenance pass, or
	// the next purge, once due. Default catalog.DefaultSupersededGrace; negative
	// deletes at the end of this purge.
	Grace time.Duration
	// Progress receives the items examined, then the segments and scans
	// read (with their bytes), then the dead blobs removed.
	Progress ProgressFunc
}

// PurgeReport says what Purge removed.
type PurgeReport struct {
	Items     int    // items whose every version was removed
	Versions  int    // item versions removed
	Blobs     int    // blobs no remaining version references, removed (loose objects deleted after the grace period)
	Packs     int    // packs rewritten without those blobs, or holding only those: to be deleted after the grace period
	Deleted   int    // objects deleted whose grace period had passed (this purge's or earlier ones)
	Segments  int    // segments and scans folded into the snapshot: to be deleted after the grace period
	Snapshots int    // older snapshots the new one replaces: to be deleted after the grace period
	Snapshot  string // the snapshot written
}

// Purge removes the versions of items deleted more than opts.Retention
// ago, then every blob no remaining version references, writes a catalog
// snapshot and deletes the segments, scans and snapshots older than the
// retention window, which the new snapshot replaces: point-in-time restore
// then covers exactly the window once the grace period has passed (every
// object purge removes is deleted only then; backup/catalog, grace.go). It never removes a blob a remaining
// version references: any error while it lists or reads the segments and
// scans that decide which blobs are live aborts it before it schedules or
// deletes anything. The caller keeps other writers off the catalog (the
// scanner's Purge does).
func Purge(ctx context.Context, r *repository.Repository, c *catalog.Catalog, opts PurgeOptions) (PurgeReport, error) {
	var rep PurgeReport
	if opts.Retention <= 0 {
		return rep, nil
	}
	cutoff := opts.Now.Add(-opts.Retention).UnixNano()
	c.Lock()
	defer c.Unlock()
	progress := opts.Progress
	exp, err := c.Expire(cutoff, func(done, total int) {
		progress.Report(Progress{Step: "removing expired item versions", Items: int64(done), ItemsTotal: int64(total)})
	})
	if err != nil {
		return rep, err
	}
	defer exp.Close()
	rep.Items, rep.Versions = exp.Items, exp.Versions
	dead := exp.Dead
	// Everything purge decides is read before anything is written or
	// scheduled: a failed listing or an unreadable segment or scan
	// (a brief outage, or damage verify reports) aborts the purge with
	// nothing changed, since skipping it could leave a blob its records
	// still name unmarked, and delete it.
	grace := opts.Grace
	if grace == 0 {
		grace = catalog.DefaultSupersededGrace
	}
	due := opts.Now.Add(max(grace, 0))
	pending, err := c.Pending()
	if err != nil {
		return rep, fmt.Errorf("purge: %w", err)
	}
	// What the snapshot replaces waits out the grace period too, so a copy
	// that listed the repository before the snapshot was written still
	// finds the segments it holds (readers take the newest snapshot and
	// the segments after it, so the overlap is harmless).
	var folded []string
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return rep, fmt.Errorf("purge: list snapshots: %w", err)
	}
	for _, s := range snaps {
		if _, waiting := pending[s.Name]; waiting {
			continue
		}
		if s.Time.UnixNano() < cutoff {
			folded = append(folded, s.Name)
			rep.Snapshots++
		}
	}
	posLSN, _, err := c.Position()
	if err != nil {
		return rep, err
	}
	segs, err := r.Segments(ctx)
	if err != nil {
		return rep, fmt.Errorf("purge: list segments: %w", err)
	}
	scans, err := r.Scans(ctx)
	if err != nil {
		return rep, fmt.Errorf("purge: list scans: %w", err)
	}
	// Records the remaining segments and scans hold may still name a blob
	// whose versions were purged (a segment straddling the cutoff): keep it.
	// Segments folded now or already waiting for deletion do not count:
	// the blobs they name wait out the same grace period.
	inUse := map[[32]byte]bool{}
	objs := append(segs, scans...)
	read := Progress{Step: "reading segments and scans", ItemsTotal: int64(len(objs))}
	for _, s := range objs {
		read.BytesTotal += s.Size
	}
	for _, s := range objs {
		read.Items++
		read.Bytes += s.Size
		progress.Report(read)
		if _, waiting := pending[s.Name]; waiting {
			continue
		}
		foldable := s.Last <= posLSN
		if !foldable && len(dead) == 0 {
			continue
		}
		_, recs, err := r.ReadRecords(ctx, s.Name)
		if err != nil {
			return rep, fmt.Errorf("purge: nothing removed: read %s: %w", s.Name, err)
		}
		if foldable && (len(recs) == 0 || recs[len(recs)-1].Time < cutoff) {
			folded = append(folded, s.Name)
			rep.Segments++
			continue
		}
		for _, rec := range recs {
			if d, ok := recordDigest(rec.Type, rec.Payload); ok {
				inUse[d] = true
			}
		}
	}
	if err := exp.Commit(); err != nil {
		return rep, fmt.Errorf("purge: commit: %w", err)
	}
	// Fold what is older than the window into a snapshot.
	name, err := c.WriteSnapshot(ctx, r, opts.Config, opts.Now.UnixNano())
	if err != nil {
		return rep, fmt.Errorf("purge: %w", err)
	}
	rep.Snapshot = name
	gone := map[dedup.Digest]bool{}
	for _, d := range dead {
		if !inUse[d] {
			gone[d] = true
		}
	}
	old, loose, err := r.RepackDead(ctx, gone, pending)
	if err != nil {
		// Nothing is scheduled yet: the snapshot and any rewritten pack
		// written so far are extra copies the next purge takes up.
		return rep, fmt.Errorf("purge: nothing removed: %w", err)
	}
	rep.Packs = len(old)
	// The blobs' catalog entries go first, in one batch (the scanner
	// stores a blob that comes back again), then everything is scheduled
	// at once: a crash between the two leaves extra copies, never a
	// catalog entry for a blob on its way out. Loose objects wait for the
	// grace period like the rest.
	var looseGone []string
	var drop [][32]byte
	for _, d := range dead {
		if inUse[d] {
			continue
		}
		drop = append(drop, d)
		if loose[d] {
			looseGone = append(looseGone, dedup.BlobName(dedup.Digest(d)))
		}
		rep.Blobs++
	}
	if err := c.DropBlobs(drop); err != nil {
		return rep, fmt.Errorf("purge: commit: %w", err)
	}
	progress.Report(Progress{Step: "removing dead blobs", Items: int64(rep.Blobs), ItemsTotal: int64(rep.Blobs)})
	if err := c.DeferDelete(append(append(folded, old...), looseGone...), due); err != nil {
		return rep, fmt.Errorf("purge: %w", err)
	}
	if rep.Deleted, err = catalog.ReapDeletes(ctx, r, c, opts.Now, nil, nil); err != nil {
		return rep, fmt.Errorf("purge: %w", err)
	}
	return rep, nil
}
