package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	// Fix repairs what can be repaired without losing anything: an
	// orphan is deleted; a missing or corrupt blob with a good copy (right
	// digest and size) on another registered volume is recorded there (a
	// BlobMoved record); one with no good copy on any volume is copied back
	// from Backup to the volume the state names. Nothing referenced is
	// deleted.
	Fix bool
	// Backup, when set, is read for a blob no volume holds whole.
	Backup BlobSource
	// OrphanAge: an unreferenced object younger than this is not an
	// orphan yet (a blob is written before the record that names it).
	// Default one hour.
	OrphanAge time.Duration
	// Now is the clock for OrphanAge. Default the engine's.
	Now func() time.Time
	// Progress is told each blob checked with its raw size.
	Progress func(blobs, bytes int64)
}

// BlobSource gives a blob's raw bytes from elsewhere (the backup).
type BlobSource interface {
	ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error)
}

// BlobProblem is one finding of CheckBlobs.
type BlobProblem struct {
	Kind   string `json:"kind"` // missing, corrupt, orphan
	Volume string `json:"volume"`
	Digest string `json:"digest"`
	Detail string `json:"detail,omitempty"`
	Fixed  bool   `json:"fixed,omitempty"`
	// GoodCopy names where a whole copy of a missing or corrupt blob was
	// found: another volume, or "backup".
	GoodCopy string `json:"good_copy,omitempty"`
	// Fix says what --fix did ("deleted", "recorded on cold", "copied
	// back from the backup to primary").
	Fix string `json:"fix,omitempty"`
	// Unrecoverable: no volume holds a whole copy (and the backup, when
	// asked, neither); Items are the items that reference it
	// ("account:item", the first 20).
	Unrecoverable bool     `json:"unrecoverable,omitempty"`
	Items         []string `json:"items,omitempty"`
}

// CheckReport says what CheckBlobs found.
type CheckReport struct {
	Blobs   int64 `json:"blobs_checked"`
	Bytes   int64 `json:"bytes_checked"`
	Objects int64 `json:"objects_listed"`
	Missing int64 `json:"missing"`
	Corrupt int64 `json:"corrupt"`
	Orphans int64 `json:"orphans"`
	Fixed   int64 `json:"fixed"`
	// Unrecoverable counts missing or corrupt blobs of which no whole copy
	// was found.
	Unrecoverable int64         `json:"unrecoverable"`
	Problems      []BlobProblem `json:"problems,omitempty"` // the first 1000
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
	if p.Unrecoverable {
		r.Unrecoverable++
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
	var lost []*BlobProblem
	for _, b := range blobs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		p, err := e.checkBlob(ctx, b)
		if err != nil {
			return rep, err
		}
		if p != nil {
			if err := e.recoverBlob(ctx, b, p, vols, o); err != nil {
				return rep, err
			}
			if p.Unrecoverable {
				lost = append(lost, p)
			}
			rep.add(*p)
		}
		rep.Blobs++
		rep.Bytes += b.Size
		if o.Progress != nil {
			o.Progress(1, b.Size)
		}
	}
	if err := e.referencingItems(ctx, lost, &rep); err != nil {
		return rep, err
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

// checkBlob reads one blob whole from its volume and checks it: nil if it
// is whole (or changed since the listing), else the problem.
func (e *Engine) checkBlob(ctx context.Context, b BlobLocation) (*BlobProblem, error) {
	if _, pending := e.copies.lookup(b.Digest); pending {
		return nil, nil // its copy is being written; the record holds it
	}
	v, err := e.volume(ctx, b.Volume)
	if err != nil {
		return nil, err
	}
	framed, err := hsm.ReadAll(ctx, v, dedup.BlobName(b.Digest))
	if hsm.IsNotFound(err) {
		if now, err2 := e.BlobAt(ctx, b.Digest); err2 != nil || now.Volume != b.Volume {
			return nil, nil // collected or moved since the listing
		}
		return &BlobProblem{Kind: "missing", Volume: b.Volume, Digest: b.Digest.String()}, nil
	}
	if err != nil && !hsm.IsPermanent(err) {
		return nil, fmt.Errorf("check blob %s on %s: %w", b.Digest, b.Volume, err)
	}
	if err == nil {
		err = wholeBlob(framed, b.Digest, b.Size)
	}
	if err != nil {
		if now, err2 := e.BlobAt(ctx, b.Digest); err2 != nil || now.Volume != b.Volume {
			return nil, nil
		}
		return &BlobProblem{Kind: "corrupt", Volume: b.Volume, Digest: b.Digest.String(), Detail: err.Error()}, nil
	}
	return nil, nil
}

// wholeBlob checks a framed copy against a blob's digest and raw size.
func wholeBlob(framed []byte, d dedup.Digest, size int64) error {
	raw, err := dedup.Decode(framed)
	switch {
	case err != nil:
		return err
	case dedup.Sum(raw) != d:
		return errors.New("bytes do not hash to the digest")
	case int64(len(raw)) != size:
		return fmt.Errorf("%d bytes, the state says %d", len(raw), size)
	}
	return nil
}

// recoverBlob looks for a whole copy of a missing or corrupt blob on the
// other registered volumes, then in the backup (with Fix), and with Fix
// repairs it: a copy on another volume is recorded as the blob's location
// (BlobMoved: the bad copy is then deleted as a moved blob's old copy
// is), bytes from the backup are written back to the volume the state
// names. Without a whole copy anywhere the blob is unrecoverable.
func (e *Engine) recoverBlob(ctx context.Context, b BlobLocation, p *BlobProblem, vols []VolumeInfo, o CheckOptions) error {
	name := dedup.BlobName(b.Digest)
	var unreadable []string
	for _, vi := range vols {
		if vi.Name == b.Volume {
			continue
		}
		v, err := e.volume(ctx, vi.Name)
		var framed []byte
		if err == nil {
			framed, err = hsm.ReadAll(ctx, v, name)
		}
		if hsm.IsNotFound(err) {
			continue
		}
		if err != nil {
			if !hsm.IsPermanent(err) {
				unreadable = append(unreadable, vi.Name)
			}
			continue
		}
		if wholeBlob(framed, b.Digest, b.Size) != nil {
			continue
		}
		p.GoodCopy = vi.Name
		if !o.Fix {
			return nil
		}
		done, err := e.relocateBlob(ctx, b, vi.Name, v, framed)
		if err != nil {
			p.Detail = joinDetail(p.Detail, "recording the copy on "+vi.Name+" failed: "+err.Error())
			return nil
		}
		if done {
			p.Fixed, p.Fix = true, "recorded on "+vi.Name
		}
		return nil
	}
	if len(unreadable) > 0 {
		p.Detail = joinDetail(p.Detail, "volume(s) "+strings.Join(unreadable, ", ")+" could not be read: run the check again")
	}
	if o.Fix && o.Backup != nil {
		raw, err := o.Backup.ReadBlob(ctx, b.Digest)
		switch {
		case err != nil:
			p.Detail = joinDetail(p.Detail, "backup: "+err.Error())
		case dedup.Sum(raw) != b.Digest || int64(len(raw)) != b.Size:
			p.Detail = joinDetail(p.Detail, "the backup's copy does not match")
		default:
			p.GoodCopy = "backup"
			done, err := e.copyBack(ctx, b, raw)
			if err != nil {
				p.Detail = joinDetail(p.Detail, "copying back from the backup failed: "+err.Error())
				return nil
			}
			if done {
				p.Fixed, p.Fix = true, "copied back from the backup to "+b.Volume
			}
			return nil
		}
	}
	// No whole copy on any volume (one that could not be read may hold
	// one: then it is not called unrecoverable), nor, when asked, in the
	// backup.
	p.Unrecoverable = len(unreadable) == 0
	return nil
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// relocateBlob records a verified copy of b on volume to as its location,
// unless the blob moved or went meanwhile. moveMu is held shared, so the
// deletion of moved blobs' old copies and of orphans (which may be this
// very copy) waits until the record is in.
func (e *Engine) relocateBlob(ctx context.Context, b BlobLocation, to string, v hsm.Volume, framed []byte) (bool, error) {
	e.moveMu.RLock()
	defer e.moveMu.RUnlock()
	// Read again under the lock: the copy may have been deleted as an
	// old copy or an orphan since.
	again, err := hsm.ReadAll(ctx, v, dedup.BlobName(b.Digest))
	if err != nil {
		return false, err
	}
	if err := wholeBlob(again, b.Digest, b.Size); err != nil {
		return false, err
	}
	res, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		var br blobRec
		ok, err := getVal(tx.b, blobKey(b.Digest), &br)
		if err != nil || !ok || br.Refs == 0 || br.Volume != b.Volume {
			return nil, false, err
		}
		return event.BlobMoved{Digest: b.Digest, From: b.Volume, To: to}, true, nil
	})
	done, _ := res.(bool)
	return done && err == nil, err
}

// copyBack writes a blob's raw bytes (checked against its digest and
// size) durably to the volume the state names, framed with its
// compression, and reads them back.
func (e *Engine) copyBack(ctx context.Context, b BlobLocation, raw []byte) (bool, error) {
	spec, err := e.Volume(ctx, b.Volume)
	threshold := -1
	if err == nil {
		threshold = spec.CompressThreshold()
	} else if b.Volume == e.prim().name {
		threshold = e.prim().threshold
	} else {
		return false, err
	}
	v, err := e.rawVolume(ctx, b.Volume)
	if err != nil {
		return false, err
	}
	e.moveMu.RLock()
	defer e.moveMu.RUnlock()
	if now, err := e.BlobAt(ctx, b.Digest); err != nil || now.Volume != b.Volume {
		return false, nil // collected or moved meanwhile
	}
	name := dedup.BlobName(b.Digest)
	framed := dedup.Encode(raw, threshold)
	if err := v.Put(ctx, name, bytes.NewReader(framed), int64(len(framed))); err != nil {
		return false, err
	}
	back, err := hsm.ReadAll(ctx, v, name)
	if err != nil {
		return false, err
	}
	if err := wholeBlob(back, b.Digest, b.Size); err != nil {
		return false, fmt.Errorf("%w: the copy written to %s does not read back whole: %v", ErrCorrupt, b.Volume, err)
	}
	return true, nil
}

// referencingItems names the items that reference each unrecoverable
// blob, in one pass over the items, so the report says which messages to
// bring back from the backup.
func (e *Engine) referencingItems(ctx context.Context, lost []*BlobProblem, rep *CheckReport) error {
	if len(lost) == 0 {
		return nil
	}
	want := map[string]*BlobProblem{}
	for _, p := range lost {
		want[p.Digest] = p
	}
	addr := map[uint64]string{}
	err := e.policyItems(ctx, nil, func(it PolicyItem) error {
		p := want[it.Digest.String()]
		if p == nil || len(p.Items) >= 20 {
			return nil
		}
		a, ok := addr[it.Account]
		if !ok {
			a = strconv.FormatUint(it.Account, 10)
			if ar, err := loadAccount(e.db, it.Account); err == nil {
				a = ar.A.Address
			}
			addr[it.Account] = a
		}
		p.Items = append(p.Items, fmt.Sprintf("%s %d", a, it.Item))
		return nil
	})
	if err != nil {
		return err
	}
	for i := range rep.Problems {
		if p := want[rep.Problems[i].Digest]; p != nil && rep.Problems[i].Unrecoverable {
			rep.Problems[i].Items = p.Items
		}
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
			// A spare copy of a blob referenced on another volume is
			// deleted only while that copy is whole: else it may be the
			// one good copy left (a check of fewer volumes, or a failed
			// relocation).
			if loc, err := e.BlobAt(ctx, d); err == nil && loc.Volume != vol {
				bad, err := e.checkBlob(ctx, loc)
				if err != nil {
					return err
				}
				if bad != nil {
					framed, err := hsm.ReadAll(ctx, v, oi.Name)
					if err == nil && wholeBlob(framed, d, loc.Size) == nil {
						p.Detail = joinDetail(p.Detail, fmt.Sprintf("kept: a whole copy, and the referenced one on %s is %s", loc.Volume, bad.Kind))
						rep.add(p)
						continue
					}
				}
			}
			fixed, err := e.deleteOrphan(ctx, v, d, vol)
			if err != nil {
				return err
			}
			p.Fixed = fixed
			if fixed {
				p.Fix = "deleted"
			}
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
