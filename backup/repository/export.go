package repository

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tidemark/tidemark/backup/internal/tune"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/cryptvol"
	"github.com/tidemark/tidemark/redolog"
)

// ErrNotEmpty is returned by NewExportWriter for a volume that already
// holds objects: an export never writes into an existing repository.
var ErrNotEmpty = errors.New("backup: destination is not empty")

// DefaultExportSegmentBytes is the size at which an ExportWriter seals a
// segment (uncompressed records).
const DefaultExportSegmentBytes = 8 << 20

// ExportWriter writes a new, self-contained repository whose records the
// caller composes (restore's export writes one record set describing
// chosen accounts as of a time). Records get LSNs 1, 2, 3, ... in the
// order they are appended and are sealed into segments of about
// SegmentBytes; blobs are stored once per digest, compressed, like the
// scanner stores them: small ones in packs (the last written by Finish),
// large ones as loose objects. The manifest is written last, by Finish, so a
// destination whose export was interrupted holds no tidemark-backup.json,
// is not a repository, and (being non-empty) is refused by a second
// export: remove it and start again.
//
// PutBlob is safe for concurrent use; Append and Finish are called from
// one goroutine.
type ExportWriter struct {
	repo *Repository
	// SegmentBytes seals the open segment at this size. Set before the
	// first Append; default DefaultExportSegmentBytes.
	SegmentBytes int

	pack     *PackWriter // small blobs; written whole by Finish, before the manifest
	mu       sync.Mutex
	blobs    map[dedup.Digest]bool
	recs     []redolog.Record
	size     int
	next     uint64
	segments int
	blobN    int
	stored   int64
	finished bool
}

// ExportStats says what an ExportWriter stored.
type ExportStats struct {
	Records     int   // records written, LSNs 1..Records
	Segments    int   // segment objects
	Blobs       int   // distinct blobs stored
	StoredBytes int64 // compressed bytes of those blobs
}

// NewExportWriter starts a repository on vol, which must hold no object
// at all (ErrNotEmpty otherwise). now stamps the manifest.
func NewExportWriter(ctx context.Context, vol hsm.Volume, now time.Time) (*ExportWriter, error) {
	return NewExportWriterWith(ctx, vol, now, nil)
}

// NewExportWriterWith is NewExportWriter that, when opts holds a password,
// makes the new repository encrypted (format 3) with that password as its
// first key.
func NewExportWriterWith(ctx context.Context, vol hsm.Volume, now time.Time, opts *OpenOptions) (*ExportWriter, error) {
	errFull := errors.New("full")
	err := vol.List(ctx, "", func(o hsm.ObjectInfo) error { return errFull })
	if errors.Is(err, errFull) {
		return nil, fmt.Errorf("export: %w", ErrNotEmpty)
	}
	if err != nil && !hsm.IsNotFound(err) {
		return nil, fmt.Errorf("export: list destination: %w", err)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	m := Manifest{Format: formatPlain, ID: hex.EncodeToString(id[:]), Created: now.UTC(), Digest: "sha256"}
	repo := &Repository{vol: vol, raw: vol, manifest: m}
	if opts != nil && len(opts.Password) > 0 {
		master, err := cryptvol.NewMasterKey()
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		keyID, err := cryptvol.AddKey(ctx, vol, master, opts.Password, opts.kdf(), now, opts.Host)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		repo.manifest.Format = formatEncrypted
		repo.manifest.Encryption = &Encryption{Scheme: schemeCryptvol1, KeyCheck: cryptvol.KeyCheck(master)}
		if err := repo.unlock(master, keyID); err != nil {
			return nil, err
		}
	}
	return &ExportWriter{repo: repo, pack: NewPackWriter(repo, nil), blobs: map[dedup.Digest]bool{}, next: 1,
		SegmentBytes: DefaultExportSegmentBytes}, nil
}

// ID returns the id the new repository's manifest will carry.
func (w *ExportWriter) ID() string { return w.repo.manifest.ID }

// PutBlob stores raw under its digest d unless this writer stored it
// already. The caller has checked raw against d (Repository.ReadBlob does).
func (w *ExportWriter) PutBlob(ctx context.Context, d dedup.Digest, raw []byte) error {
	w.mu.Lock()
	if w.blobs[d] {
		w.mu.Unlock()
		return nil
	}
	w.blobs[d] = true
	w.mu.Unlock()
	if len(raw) < tune.PackLooseMin {
		w.pack.Add(ctx, d, raw) // counted when Finish writes the last pack
		return nil
	}
	n, err := w.repo.PutBlob(ctx, d, raw)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		delete(w.blobs, d)
		return fmt.Errorf("export: %w", err)
	}
	w.blobN++
	w.stored += n
	return nil
}

// HasBlob reports whether PutBlob stored d.
func (w *ExportWriter) HasBlob(d dedup.Digest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.blobs[d]
}

// Append adds one record with its type, commit time (unix ns) and
// payload, giving it the next LSN, which it returns. A MessageAdded
// payload must not carry the blob bytes (they belong in PutBlob): the
// repository format keeps records and blobs apart. Times must not go
// backwards.
func (w *ExportWriter) Append(ctx context.Context, typ uint16, unixNano int64, payload []byte) (uint64, error) {
	if w.finished {
		return 0, fmt.Errorf("export: append after finish: %w", ErrClosed)
	}
	if n := len(w.recs); n > 0 && unixNano < w.recs[n-1].Time {
		return 0, fmt.Errorf("export: record time %d before %d", unixNano, w.recs[n-1].Time)
	}
	lsn := w.next
	w.next++
	w.recs = append(w.recs, redolog.Record{LSN: lsn, Time: unixNano, Type: typ, Payload: payload})
	w.size += len(payload) + 32
	if w.size >= w.SegmentBytes {
		if err := w.seal(ctx); err != nil {
			return 0, err
		}
	}
	return lsn, nil
}

// seal ships the open segment.
func (w *ExportWriter) seal(ctx context.Context) error {
	if len(w.recs) == 0 {
		return nil
	}
	first, last := w.recs[0].LSN, w.recs[len(w.recs)-1].LSN
	obj := EncodeRecords(KindSegment, first, last, w.recs)
	if err := w.repo.PutObject(ctx, SegmentName(first, last), obj); err != nil {
		return fmt.Errorf("export: put segment %d-%d: %w", first, last, err)
	}
	w.segments++
	w.recs, w.size = w.recs[:0], 0
	return nil
}

// Finish seals the last segment and writes the manifest, which makes the
// destination a repository. It returns the new repository, open.
func (w *ExportWriter) Finish(ctx context.Context) (*Repository, ExportStats, error) {
	if w.finished {
		return nil, ExportStats{}, fmt.Errorf("export: finish twice: %w", ErrClosed)
	}
	if err := w.seal(ctx); err != nil {
		return nil, ExportStats{}, err
	}
	packed, err := w.pack.Flush(ctx)
	if err != nil {
		return nil, ExportStats{}, fmt.Errorf("export: %w", err)
	}
	w.mu.Lock()
	for _, p := range packed {
		w.blobN++
		w.stored += p.Stored
	}
	w.mu.Unlock()
	b, err := json.MarshalIndent(w.repo.manifest, "", "  ")
	if err != nil {
		return nil, ExportStats{}, fmt.Errorf("export: %w", err)
	}
	if err := hsm.PutBytes(ctx, w.repo.vol, ManifestName, append(b, '\n')); err != nil {
		return nil, ExportStats{}, fmt.Errorf("export: put manifest: %w", err)
	}
	w.finished = true
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.repo, ExportStats{Records: int(w.next - 1), Segments: w.segments, Blobs: w.blobN, StoredBytes: w.stored}, nil
}
