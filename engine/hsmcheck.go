package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
)

// CheckOptions configure CheckBlobs.
type CheckOptions struct {
	// Accounts limits the check of referenced blobs to those of these
	// accounts (nil: every blob). Orphans are looked for only when it is
	// nil: a blob one account does not reference may be another's.
	Accounts []uint64
	// Volumes limits the check to blobs on these volumes (nil: all).
	Volumes []string
	// Fix deletes orphans. Missing and corrupt blobs are only reported.
	Fix bool
	// OrphanAge: an unreferenced object younger than this is not an
	// orphan yet (a blob is written before the record that names it).
	// Default one hour.
	OrphanAge time.Duration
	// Now is the clock for OrphanAge. Default the engine's.
	Now func() time.Time
	// Progress is told each blob checked with its raw size.
	Progress func(blobs, bytes int64)
}

// BlobProblem is one finding of CheckBlobs.
type BlobProblem struct {
	Kind   string `json:"kind"` // missing, corrupt, orphan
	Volume string `json:"volume"`
	Digest string `json:"digest"`
	Detail string `json:"detail,omitempty"`
	Fixed  bool   `json:"fixed,omitempty"`
}

// CheckReport says what CheckBlobs found.
type CheckReport struct {
	Blobs    int64         `json:"blobs_checked"`
	Bytes    int64         `json:"bytes_checked"`
	Objects  int64         `json:"objects_listed"`
	Missing  int64         `json:"missing"`
	Corrupt  int64         `json:"corrupt"`
	Orphans  int64         `json:"orphans"`
	Fixed    int64         `json:"fixed"`
	Problems []BlobProblem `json:"problems,omitempty"` // the first 1000
}

// Unfixed counts the problems found and not fixed.
func (r CheckReport) Unfixed() int64 { return r.Missing + r.Corrupt + r.Orphans - r.Fixed }

const maxProblems = 1000

func (r *CheckReport) add(p BlobProblem) {
	switch p.Kind {
	case "missing":
		r.Missing++
	case "corrupt":
		r.Corrupt++
	case "orphan":
		r.Orphans++
	}
	if p.Fixed {
		r.Fixed++
	}
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, p)
	}
}

// CheckBlobs (doCheckBlobs) checks that every referenced blob is on the
// volume the state says, whole, with the right digest and size, and that
// the volumes hold no unreferenced blob (an orphan: a copy written by a
// move or delivery that never got its record). With Fix it deletes
// orphans, the one thing it can fix without losing anything. A volume that
// cannot be read ends the check with its error.
func (e *Engine) CheckBlobs(ctx context.Context, o CheckOptions) (CheckReport, error) {
	var rep CheckReport
	if o.OrphanAge <= 0 {
		o.OrphanAge = time.Hour
	}
	if o.Now == nil {
		o.Now = e.opts.Now
	}
	vols, err := e.Volumes(ctx)
	if err != nil {
		return rep, err
	}
	for _, name := range o.Volumes {
		if !slices.ContainsFunc(vols, func(v VolumeInfo) bool { return v.Name == name }) {
			return rep, notFoundf("volume %s", name)
		}
	}
	want := func(v string) bool { return o.Volumes == nil || slices.Contains(o.Volumes, v) }
	var blobs []BlobLocation
	if o.Accounts != nil {
		seen := map[dedup.Digest]bool{}
		err = e.policyItems(ctx, o.Accounts, func(it PolicyItem) error {
			if seen[it.Digest] {
				return nil
			}
			seen[it.Digest] = true
			loc, err := e.BlobAt(ctx, it.Digest)
			if err != nil {
				rep.add(BlobProblem{Kind: "missing", Digest: it.Digest.String(), Detail: "referenced by an item but has no blob record"})
				return nil
			}
			if want(loc.Volume) {
				blobs = append(blobs, loc)
			}
			return nil
		})
	} else {
		err = e.Blobs(ctx, func(b BlobLocation) error {
			if want(b.Volume) {
				blobs = append(blobs, b)
			}
			return nil
		})
	}
	if err != nil {
		return rep, err
	}
	for _, b := range blobs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := e.checkBlob(ctx, b, &rep); err != nil {
			return rep, err
		}
		rep.Blobs++
		rep.Bytes += b.Size
		if o.Progress != nil {
			o.Progress(1, b.Size)
		}
	}
	if o.Accounts != nil {
		return rep, nil
	}
	for _, v := range vols {
		if !want(v.Name) {
			continue
		}
		if err := e.findOrphans(ctx, v.Name, o, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// checkBlob reads one blob whole from its volume and checks it.
func (e *Engine) checkBlob(ctx context.Context, b BlobLocation, rep *CheckReport) error {
	if _, pending := e.copies.lookup(b.Digest); pending {
		return nil // its copy is being written; the record holds it
	}
	v, err := e.volume(ctx, b.Volume)
	if err != nil {
		return err
	}
	framed, err := hsm.ReadAll(ctx, v, dedup.BlobName(b.Digest))
	if hsm.IsNotFound(err) {
		if now, err2 := e.BlobAt(ctx, b.Digest); err2 != nil || now.Volume != b.Volume {
			return nil // collected or moved since the listing
		}
		rep.add(BlobProblem{Kind: "missing", Volume: b.Volume, Digest: b.Digest.String()})
		return nil
	}
	if err != nil && !hsm.IsPermanent(err) {
		return fmt.Errorf("check blob %s on %s: %w", b.Digest, b.Volume, err)
	}
	var raw []byte
	if err == nil {
		raw, err = dedup.Decode(framed)
	}
	switch {
	case err != nil:
		rep.add(BlobProblem{Kind: "corrupt", Volume: b.Volume, Digest: b.Digest.String(), Detail: err.Error()})
	case dedup.Sum(raw) != b.Digest:
		rep.add(BlobProblem{Kind: "corrupt", Volume: b.Volume, Digest: b.Digest.String(), Detail: "bytes do not hash to the digest"})
	case int64(len(raw)) != b.Size:
		rep.add(BlobProblem{Kind: "corrupt", Volume: b.Volume, Digest: b.Digest.String(),
			Detail: fmt.Sprintf("%d bytes, the state says %d", len(raw), b.Size)})
	}
	return nil
}

// findOrphans lists a volume's blob objects and reports those no blob
// record places there and no moved blob's queued old copy accounts for.
func (e *Engine) findOrphans(ctx context.Context, vol string, o CheckOptions, rep *CheckReport) error {
	v, err := e.volume(ctx, vol)
	if err != nil {
		return err
	}
	var cands []hsm.ObjectInfo
	err = v.List(ctx, "blobs/", func(oi hsm.ObjectInfo) error {
		rep.Objects++
		if o.Now().Sub(oi.ModTime) < o.OrphanAge {
			return nil
		}
		cands = append(cands, oi)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list volume %s: %w", vol, err)
	}
	for _, oi := range cands {
		d, err := dedup.ParseBlobName(oi.Name)
		if err != nil {
			rep.add(BlobProblem{Kind: "orphan", Volume: vol, Digest: oi.Name, Detail: "not a blob name"})
			continue
		}
		orphan, err := e.isOrphan(e.db, d, vol)
		if err != nil {
			return err
		}
		if !orphan {
			continue
		}
		p := BlobProblem{Kind: "orphan", Volume: vol, Digest: d.String(), Detail: fmt.Sprintf("%d bytes, written %s", oi.Size, oi.ModTime.UTC().Format(time.RFC3339))}
		if o.Fix {
			fixed, err := e.deleteOrphan(ctx, v, d, vol)
			if err != nil {
				return err
			}
			p.Fixed = fixed
		}
		rep.add(p)
	}
	return nil
}

// isOrphan: no blob record (referenced or waiting for collection) places
// d on vol, no old copy of d waits there, and no inline copy is pending.
func (e *Engine) isOrphan(r reader, d dedup.Digest, vol string) (bool, error) {
	var br blobRec
	ok, err := getVal(r, blobKey(d), &br)
	if err != nil {
		return false, err
	}
	if ok && br.Volume == vol {
		return false, nil
	}
	if _, pending := e.copies.lookup(d); pending && vol == e.opts.PrimaryName {
		return false, nil
	}
	queued := false
	err = scan(r, []byte{tMoveDrop}, func(k, v []byte) error {
		if string(v) == vol && len(k) == 41 && dedup.Digest(k[9:]) == d {
			queued = true
			return errStopScan
		}
		return nil
	})
	if err != nil && err != errStopScan {
		return false, err
	}
	return !queued, nil
}

// deleteOrphan deletes an orphan after checking again, on the writer
// goroutine (like collection: a blob-first delivery of the same bytes
// that wrote it meanwhile sees gcGen move and writes it again) and with
// moves held off (a move writes its copy before its record).
func (e *Engine) deleteOrphan(ctx context.Context, v hsm.Volume, d dedup.Digest, vol string) (bool, error) {
	e.moveMu.Lock()
	defer e.moveMu.Unlock()
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		orphan, err := e.isOrphan(tx.b, d, vol)
		if err != nil || !orphan {
			return nil, false, err
		}
		e.gcGen.Add(1)
		if err := v.Delete(ctx, dedup.BlobName(d)); err != nil {
			return nil, false, fmt.Errorf("delete orphan %s on %s: %w", d, vol, err)
		}
		return nil, true, nil
	})
	fixed, _ := res.(bool)
	return fixed, err
}
