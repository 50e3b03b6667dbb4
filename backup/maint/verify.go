package maint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Accounts limits the blob checks to blobs these accounts' item
	// versions reference; empty checks every blob.
	Accounts []uint64
	// ReadData reads every referenced blob and checks its digest, not just
	// its presence.
	ReadData bool
	// Fix moves corrupt and orphan objects to quarantine/ (never deletes)
	// and, when Source is set, copies missing or corrupt blobs again from
	// the primary store.
	Fix    bool
	Source repository.BlobSource
	// Progress receives the objects checked (and their bytes), then the
	// referenced blobs checked.
	Progress ProgressFunc
}

// Problem kinds.
const (
	ProblemCorrupt     = "corrupt"      // an object fails its checksum or digest
	ProblemMissingBlob = "missing-blob" // a referenced blob is not stored
	ProblemOrphan      = "orphan"       // an object nothing references or an unknown name
	ProblemCatalog     = "catalog"      // the catalog differs from a rebuild from the repository
	ProblemMissingDict = "missing-dict" // a blob's compression dictionary is not stored
)

// Problem is one finding of Verify.
type Problem struct {
	Kind   string `json:"kind"`
	Object string `json:"object"`
	Detail string `json:"detail"`
	Fixed  bool   `json:"fixed"`
}

// VerifyReport lists what Verify checked and found.
type VerifyReport struct {
	Segments  int       `json:"segments"`
	Scans     int       `json:"scans"`
	Snapshots int       `json:"snapshots"`
	Dicts     int       `json:"dictionaries"`
	Packs     int       `json:"packs"`
	Blobs     int       `json:"blobs_checked"`
	Problems  []Problem `json:"problems"`
}

// OK reports whether nothing unfixed was found.
func (r VerifyReport) OK() bool {
	for _, p := range r.Problems {
		if !p.Fixed {
			return false
		}
	}
	return true
}

// Verify checks a repository and its catalog (Zimbra's coherency check):
// every segment, scan, snapshot and dictionary decodes with good checksums;
// every blob a catalog version or a stored record references is present
// (and, with ReadData, decodes with its dictionary and matches its digest);
// the catalog equals one rebuilt from the repository; no orphan objects. c may be nil (repository only).
func Verify(ctx context.Context, r *repository.Repository, c *catalog.Catalog, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	report := func(kind, obj, detail string) *Problem {
		rep.Problems = append(rep.Problems, Problem{Kind: kind, Object: obj, Detail: detail})
		return &rep.Problems[len(rep.Problems)-1]
	}
	var objects []hsm.ObjectInfo
	if err := r.Volume().List(ctx, "", func(o hsm.ObjectInfo) error { objects = append(objects, o); return nil }); err != nil {
		return rep, err
	}
	stored := map[[32]byte]bool{}     // loose blobs
	packedIn := map[[32]byte]string{} // packed blobs (good copies) → a pack
	packBlobs := map[string][]dedup.Digest{}
	referenced := map[[32]byte]bool{} // referenced by stored records
	checked := Progress{Step: "checking objects", ItemsTotal: int64(len(objects))}
	for _, o := range objects {
		checked.BytesTotal += o.Size
	}
	for _, o := range objects {
		checked.Items++
		checked.Bytes += o.Size
		opts.Progress.Report(checked)
		switch {
		case o.Name == repository.ManifestName || strings.HasPrefix(o.Name, repository.QuarantinePrefix) ||
			(r.Encrypted() && strings.HasPrefix(o.Name, repository.KeyPrefix)):
		case o.Name == repository.OwnerName:
			if _, _, err := r.Owner(ctx); err != nil {
				if !repository.IsCorrupt(err) {
					return rep, err
				}
				report(ProblemCorrupt, o.Name, err.Error())
			}
		case strings.HasPrefix(o.Name, repository.PackPrefix):
			if !repository.IsPackName(o.Name) {
				fixOrphan(ctx, r, c, opts, report(ProblemOrphan, o.Name, "not a pack name"))
				continue
			}
			rep.Packs++
			good, detail, err := r.CheckPack(ctx, o.Name, o.Size, opts.ReadData)
			if err != nil {
				return rep, err
			}
			for _, d := range good {
				packedIn[d] = o.Name
			}
			packBlobs[o.Name] = good
			if detail != "" {
				p := report(ProblemCorrupt, o.Name, detail)
				if opts.Fix {
					p.Fixed = r.SalvagePack(ctx, o.Name, good) == nil
				}
			}
		case strings.HasPrefix(o.Name, repository.BlobPrefix):
			if d, ok := repository.ParseBlobObject(o.Name); ok {
				stored[d] = true
			} else {
				fixOrphan(ctx, r, c, opts, report(ProblemOrphan, o.Name, "not a blob name"))
			}
		case strings.HasPrefix(o.Name, repository.LogPrefix) || strings.HasPrefix(o.Name, repository.ScanPrefix):
			_, _, seg := repository.ParseSegmentName(o.Name)
			_, _, scan := repository.ParseScanName(o.Name)
			if !seg && !scan {
				fixOrphan(ctx, r, c, opts, report(ProblemOrphan, o.Name, "unknown name"))
				continue
			}
			if seg {
				rep.Segments++
			} else {
				rep.Scans++
			}
			_, recs, err := r.ReadRecords(ctx, o.Name)
			if err != nil {
				if repository.IsCorrupt(err) {
					p := report(ProblemCorrupt, o.Name, err.Error())
					p.Fixed = opts.Fix && repository.Quarantine(ctx, r, o.Name) == nil
					continue
				}
				return rep, err
			}
			for _, rec := range recs {
				if d, ok := recordDigest(rec.Type, rec.Payload); ok {
					referenced[d] = true
				}
			}
		case strings.HasPrefix(o.Name, repository.DictPrefix):
			// Dictionaries are never orphans (new blobs keep using them)
			// and are not moved when damaged: no other copy exists.
			id, ok := repository.ParseDictName(o.Name)
			if !ok {
				fixOrphan(ctx, r, c, opts, report(ProblemOrphan, o.Name, "unknown name"))
				continue
			}
			rep.Dicts++
			if _, err := r.ReadDict(ctx, id); err != nil {
				if !repository.IsCorrupt(err) {
					return rep, err
				}
				report(ProblemCorrupt, o.Name, err.Error())
			}
		case strings.HasPrefix(o.Name, repository.SnapPrefix):
			rep.Snapshots++
			if _, err := r.ReadSnapshot(ctx, o.Name); err != nil {
				if repository.IsCorrupt(err) || errors.Is(err, repository.ErrFormat) {
					p := report(ProblemCorrupt, o.Name, err.Error())
					p.Fixed = opts.Fix && repository.Quarantine(ctx, r, o.Name) == nil
					continue
				}
				return rep, err
			}
		default:
			fixOrphan(ctx, r, c, opts, report(ProblemOrphan, o.Name, "unknown name"))
		}
	}
	// Blobs the catalog's versions reference.
	wanted := map[[32]byte]bool{}
	if c != nil {
		if len(opts.Accounts) == 0 {
			if err := c.ReferencedBlobs(func(d [32]byte) { wanted[d] = true }); err != nil {
				return rep, err
			}
		} else {
			for _, a := range opts.Accounts {
				if err := c.AccountVersionDigests(a, func(d [32]byte) { wanted[d] = true }); err != nil {
					return rep, err
				}
			}
		}
	}
	if len(opts.Accounts) == 0 {
		for d := range referenced {
			wanted[d] = true
		}
	}
	blobs := Progress{Step: "checking referenced blobs", ItemsTotal: int64(len(wanted))}
	for _, d := range sortedDigests(wanted) {
		blobs.Items++
		opts.Progress.Report(blobs)
		rep.Blobs++
		name := dedup.BlobName(dedup.Digest(d))
		var p *Problem
		if !stored[d] && packedIn[d] != "" {
			continue // checked with its pack
		}
		if !stored[d] {
			p = report(ProblemMissingBlob, name, "referenced blob is not in the repository")
		} else if opts.ReadData {
			if _, err := r.ReadBlob(ctx, dedup.Digest(d)); err != nil {
				if errors.Is(err, repository.ErrNoDictionary) {
					// The blob may be fine; its dictionary is what is lost.
					report(ProblemMissingDict, name, err.Error())
					continue
				}
				if !repository.IsCorrupt(err) {
					return rep, err
				}
				p = report(ProblemCorrupt, name, err.Error())
				if opts.Fix && repository.Quarantine(ctx, r, name) != nil {
					continue
				}
			}
		}
		if p != nil && opts.Fix && opts.Source != nil {
			p.Fixed = refetch(ctx, r, opts.Source, dedup.Digest(d)) == nil
		}
	}
	// Objects waiting for their grace period (backup/catalog, grace.go) are no orphans:
	// maintenance or the next purge deletes them.
	var pending map[string]int64
	if c != nil {
		var err error
		if pending, err = c.Pending(); err != nil {
			return rep, err
		}
	}
	// Orphan blobs: stored, referenced by nothing.
	if len(opts.Accounts) == 0 && c != nil {
		for _, d := range sortedDigests(stored) {
			if _, waiting := pending[dedup.BlobName(dedup.Digest(d))]; !wanted[d] && !waiting {
				fixOrphan(ctx, r, c, opts, report(ProblemOrphan, dedup.BlobName(dedup.Digest(d)), "no version references this blob"))
			}
		}
	}
	// Orphan packs: none of their blobs is referenced (purge removes
	// unreferenced blobs from packs that still hold live ones).
	if len(opts.Accounts) == 0 && c != nil {
		names := make([]string, 0, len(packBlobs))
		for name := range packBlobs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			live := false
			for _, d := range packBlobs[name] {
				live = live || wanted[d]
			}
			if _, waiting := pending[name]; !live && !waiting && len(packBlobs[name]) > 0 {
				fixOrphan(ctx, r, c, opts, report(ProblemOrphan, name, "no version references a blob of this pack"))
			}
		}
	}
	if c != nil {
		if err := compareRebuild(ctx, r, c, report); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func fixOrphan(ctx context.Context, r *repository.Repository, c *catalog.Catalog, opts VerifyOptions, p *Problem) {
	if !opts.Fix {
		return
	}
	p.Fixed = repository.Quarantine(ctx, r, p.Object) == nil
	if d, ok := repository.ParseBlobObject(p.Object); ok && p.Fixed && c != nil {
		_ = c.ForgetBlob(d)
	}
}

// refetch copies a blob again from the primary store.
func refetch(ctx context.Context, r *repository.Repository, src repository.BlobSource, d dedup.Digest) error {
	rc, err := src.OpenBlob(ctx, repository.BlobRef{Digest: d})
	if err != nil {
		return err
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if dedup.Sum(raw) != d {
		return fmt.Errorf("primary copy of %s does not match its digest", d)
	}
	_, err = r.PutBlob(ctx, d, raw)
	return err
}

// compareRebuild rebuilds a catalog in memory and compares digests.
func compareRebuild(ctx context.Context, r *repository.Repository, c *catalog.Catalog, report func(kind, obj, detail string) *Problem) error {
	fresh, err := catalog.Rebuild(ctx, r, "verify-catalog", vfs.NewMem())
	if err != nil {
		if repository.IsCorrupt(err) {
			report(ProblemCatalog, "", "cannot rebuild the catalog: "+err.Error())
			return nil
		}
		return err
	}
	defer fresh.Close()
	a, err := c.Digest(ctx)
	if err != nil {
		return err
	}
	b, err := fresh.Digest(ctx)
	if err != nil {
		return err
	}
	if a != b {
		report(ProblemCatalog, "", "the local catalog differs from one rebuilt from the repository; rebuild it with `tidemark backup rebuild-catalog`")
	}
	return nil
}

// recordDigest returns the blob a stored record references, if any.
func recordDigest(t uint16, payload []byte) ([32]byte, bool) {
	if t == repository.TypeScanItem {
		v, err := repository.DecodeScan(t, payload)
		if err != nil {
			return [32]byte{}, false
		}
		it := v.(*repository.ScanItem)
		return it.Digest, !it.Deleted
	}
	if event.Type(t) != event.TypeMessageAdded {
		return [32]byte{}, false
	}
	ev, err := event.Decode(event.TypeMessageAdded, payload)
	if err != nil {
		return [32]byte{}, false
	}
	return ev.(event.MessageAdded).Digest, true
}

func sortedDigests(m map[[32]byte]bool) [][32]byte {
	out := make([][32]byte, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}
