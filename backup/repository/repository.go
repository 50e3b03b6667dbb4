package repository

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"time"

	"github.com/tidemark/tidemark/backup/internal/tune"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/redolog"
)

// FormatVersion is the newest repository format: 3 is format 2 with every
// object but the manifest and the key objects encrypted (encryption.go),
// 2 stores small blobs in packs (packs/), 1 stored every blob as a loose
// object (blobs/). This package reads all three and keeps writing a format
// 1 repository in format 1, so older binaries can still read it; an older
// binary refuses format 3 rather than read ciphertext.
const FormatVersion = formatEncrypted

const (
	formatPlain     = 2
	formatEncrypted = 3
)

// newFormat is the format Init gives a new unencrypted
// repository: the current one, unless a test of format 1 set
// tune.NewFormat.
func newFormat() int {
	if tune.NewFormat != 0 {
		return tune.NewFormat
	}
	return formatPlain
}

// Manifest is the content of tidemark-backup.json.
type Manifest struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Digest  string    `json:"digest"` // blob digest algorithm, "sha256"
	// Encryption is set in a format 3 (encrypted) repository only.
	Encryption *Encryption `json:"encryption,omitempty"`
}

// Repository is a backup repository on a volume. It holds no state beyond
// the manifest and a cache of its (immutable) dictionaries, so several may
// be open on one volume; it is safe for concurrent use.
type Repository struct {
	vol      hsm.Volume // raw when not encrypted, else the decrypting volume over raw
	raw      hsm.Volume
	master   []byte // encrypted repositories: the master key
	keyID    string // the key object that opened it
	manifest Manifest
	dicts    dictSet
	blobs    blobIndex
	writes   atomic.Uint64 // objects put or deleted through PutObject and DeleteObject
}

// packed reports whether new small blobs go into packs (format 2 and 3).
func (r *Repository) Packed() bool { return r.manifest.Format >= 2 }

// Init creates the manifest on vol if it has none and opens the
// repository. now stamps the creation time.
func Init(ctx context.Context, vol hsm.Volume, now time.Time) (*Repository, error) {
	r, err := Open(ctx, vol)
	if err == nil || !errors.Is(err, ErrNotRepository) {
		return r, err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	m := Manifest{Format: newFormat(), ID: hex.EncodeToString(id[:]), Created: now.UTC(), Digest: "sha256"}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	if err := hsm.PutBytes(ctx, vol, ManifestName, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	return &Repository{vol: vol, raw: vol, manifest: m}, nil
}

// Open opens an existing unencrypted repository; a volume
// without a manifest fails with ErrNotRepository, an encrypted repository
// with ErrLocked (use OpenWith).
func Open(ctx context.Context, vol hsm.Volume) (*Repository, error) {
	return OpenWith(ctx, vol, nil)
}

// readManifest reads and checks tidemark-backup.json.
func readManifest(ctx context.Context, vol hsm.Volume) (Manifest, error) {
	rc, err := vol.GetRange(ctx, ManifestName, 0, maxManifest+1)
	if hsm.IsNotFound(err) {
		return Manifest{}, fmt.Errorf("open repository: %w", ErrNotRepository)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("open repository: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return Manifest{}, fmt.Errorf("open repository: %w", err)
	}
	if len(b) > maxManifest {
		return Manifest{}, fmt.Errorf("open repository: %s: %w: larger than %d bytes", ManifestName, ErrCorrupt, maxManifest)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("open repository: %s: %w: %v", ManifestName, ErrCorrupt, err)
	}
	if m.Format > FormatVersion || m.Format < 1 {
		return Manifest{}, fmt.Errorf("open repository: %w: format %d", ErrFormat, m.Format)
	}
	if (m.Format == formatEncrypted) != (m.Encryption != nil) {
		return Manifest{}, fmt.Errorf("open repository: %s: %w: format %d with encryption %v", ManifestName, ErrCorrupt, m.Format, m.Encryption != nil)
	}
	return m, nil
}

// maxManifest bounds what is read of tidemark-backup.json.
const maxManifest = 64 << 10

// Manifest returns the repository's manifest.
func (r *Repository) Manifest() Manifest { return r.manifest }

// ID returns the repository id.
func (r *Repository) ID() string { return r.manifest.ID }

// Volume returns the volume the repository lives on.
func (r *Repository) Volume() hsm.Volume { return r.vol }

// Writes counts the objects this Repository put or deleted, so a caller
// caching figures about the repository can tell whether they changed.
func (r *Repository) Writes() uint64 { return r.writes.Load() }

// Forget drops deleted objects (packs, loose blobs) from the blob index:
// the blobs of a pack are placed again among the packs left.
func (r *Repository) Forget(names ...string) { r.blobs.forget(names...) }

// SegmentInfo names one log segment or scan object.
type SegmentInfo struct {
	Name  string
	First uint64 // first position covered (for a scan: its position)
	Last  uint64 // last position covered
	Size  int64
	Scan  bool
	Time  int64 // scans only: when the scan ran (unix ns)
}

// Segments lists every log segment, in name order (overlaps included).
func (r *Repository) Segments(ctx context.Context) ([]SegmentInfo, error) {
	var out []SegmentInfo
	err := r.vol.List(ctx, LogPrefix, func(o hsm.ObjectInfo) error {
		if f, l, ok := ParseSegmentName(o.Name); ok {
			out = append(out, SegmentInfo{Name: o.Name, First: f, Last: l, Size: o.Size})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	return out, nil
}

// Scans lists every scan object in application order.
func (r *Repository) Scans(ctx context.Context) ([]SegmentInfo, error) {
	var out []SegmentInfo
	err := r.vol.List(ctx, ScanPrefix, func(o hsm.ObjectInfo) error {
		if l, t, ok := ParseScanName(o.Name); ok {
			out = append(out, SegmentInfo{Name: o.Name, First: l, Last: l, Size: o.Size, Scan: true, Time: t})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list scans: %w", err)
	}
	return out, nil
}

// chain picks, from possibly overlapping segments, an ordered run in which
// every position after from appears at most once, preferring the segment
// reaching furthest (the compacted one) at each step. Gaps (positions no
// segment covers) are skipped.
func Chain(segs []SegmentInfo, from uint64) []SegmentInfo {
	s := append([]SegmentInfo(nil), segs...)
	sort.Slice(s, func(i, j int) bool {
		if s[i].First != s[j].First {
			return s[i].First < s[j].First
		}
		return s[i].Last > s[j].Last
	})
	var out []SegmentInfo
	next := from + 1
	for i := 0; i < len(s); {
		// Among segments starting at or before next, take the longest reach.
		best := -1
		for j := i; j < len(s) && s[j].First <= next; j++ {
			if s[j].Last >= next && (best < 0 || s[j].Last > s[best].Last) {
				best = j
			}
		}
		if best < 0 {
			// Skip segments wholly before next; jump a gap to the next start.
			for i < len(s) && s[i].Last < next {
				i++
			}
			if i < len(s) && s[i].First > next {
				next = s[i].First
			}
			continue
		}
		out = append(out, s[best])
		next = s[best].Last + 1
		i = best + 1
	}
	return out
}

// ReadRecords fetches and decodes one segment or scan object.
func (r *Repository) ReadRecords(ctx context.Context, name string) (Header, []redolog.Record, error) {
	b, err := hsm.ReadAll(ctx, r.vol, name)
	if err != nil {
		return Header{}, nil, fmt.Errorf("read %s: %w", name, err)
	}
	h, recs, err := decodeRecords(b)
	if err != nil {
		return h, nil, fmt.Errorf("read %s: %w", name, err)
	}
	return h, recs, nil
}

// PutObject stores b under name.
func (r *Repository) PutObject(ctx context.Context, name string, b []byte) error {
	r.writes.Add(1)
	return r.vol.Put(ctx, name, bytes.NewReader(b), int64(len(b)))
}

// DeleteObject removes name.
func (r *Repository) DeleteObject(ctx context.Context, name string) error {
	r.writes.Add(1)
	return r.vol.Delete(ctx, name)
}
