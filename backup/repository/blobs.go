package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// PutBlob stores raw under its digest, compressed (threshold 0: always),
// durably. It returns the stored size. The caller has checked that the
// digest is not stored yet; storing it twice is harmless (same bytes, same
// name).
func (r *Repository) PutBlob(ctx context.Context, d dedup.Digest, raw []byte) (int64, error) {
	return r.storeBlob(ctx, d, raw, false)
}

// PutBlobDeferred stores a blob like PutBlob, but on a volume that can
// defer fsyncs (hsm.DeferredSyncer) not yet durably: SyncBlobs makes it
// durable. The caller must call SyncBlobs before it stores any object that
// references the blob, and must not trust the blob's presence after a
// crash before that (the scanner records a blob in its catalog only after
// the segment referencing it is shipped).
func (r *Repository) PutBlobDeferred(ctx context.Context, d dedup.Digest, raw []byte) (int64, error) {
	return r.storeBlob(ctx, d, raw, true)
}

func (r *Repository) storeBlob(ctx context.Context, d dedup.Digest, raw []byte, deferred bool) (int64, error) {
	enc, err := r.encodeBlob(ctx, raw)
	if err != nil {
		return 0, fmt.Errorf("put blob %s: %w", d, err)
	}
	name := dedup.BlobName(d)
	if ds, ok := r.vol.(hsm.DeferredSyncer); ok && deferred {
		err = ds.PutDeferred(ctx, name, bytes.NewReader(enc), int64(len(enc)))
	} else {
		err = r.PutObject(ctx, name, enc)
	}
	if err != nil {
		return 0, fmt.Errorf("put blob %s: %w", d, err)
	}
	r.blobs.addLoose(d, int64(len(enc)))
	return int64(len(enc)), nil
}

// SyncBlobs makes every blob PutBlobDeferred stored durable; on a volume
// without deferred fsyncs they already are.
func (r *Repository) SyncBlobs(ctx context.Context) error {
	if ds, ok := r.vol.(hsm.DeferredSyncer); ok {
		if err := ds.SyncDeferred(ctx); err != nil {
			return fmt.Errorf("sync blobs: %w", err)
		}
	}
	return nil
}

// ReadBlob returns the raw bytes of a stored blob, loose or packed,
// checked against its digest, resolving the dictionary of a
// dictionary-compressed loose blob: a mismatch or an undecodable object,
// chunk or dictionary fails with ErrCorrupt, a missing blob with an error
// wrapping hsm.ErrNotFound, a missing dictionary with ErrNoDictionary.
func (r *Repository) ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		where, loc, err := r.locate(ctx, d, attempt > 0)
		if err != nil {
			return nil, fmt.Errorf("read blob %s: %w", d, err)
		}
		if where != blobPacked {
			return r.readLoose(ctx, d)
		}
		raw, err := r.readPacked(ctx, d, loc)
		if hsm.IsNotFound(err) && attempt == 0 {
			continue // the pack was repacked away since the index was read
		}
		if err != nil {
			return nil, fmt.Errorf("read blob %s: %w", d, err)
		}
		return raw, nil
	}
}

// readLoose reads blobs/<digest>.
func (r *Repository) readLoose(ctx context.Context, d dedup.Digest) ([]byte, error) {
	b, err := hsm.ReadAll(ctx, r.vol, dedup.BlobName(d))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	raw, err := dedup.DecodeWith(b, func(id uint32) (*dedup.Dict, error) { return r.dict(ctx, id) })
	switch {
	case errors.Is(err, ErrNoDictionary):
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	case err != nil && !errors.Is(err, dedup.ErrCorrupt) && !errors.Is(err, dedup.ErrUnknownCodec) && !IsCorrupt(err):
		return nil, fmt.Errorf("read blob %s: %w", d, err) // reading the dictionary failed
	case err != nil:
		return nil, fmt.Errorf("read blob %s: %w: %v", d, ErrCorrupt, err)
	}
	if dedup.Sum(raw) != d {
		return nil, fmt.Errorf("read blob %s: %w: digest mismatch", d, ErrCorrupt)
	}
	return raw, nil
}

// HasBlob reports whether the repository stores a blob, loose or packed
// (without reading it).
func (r *Repository) HasBlob(ctx context.Context, d dedup.Digest) (bool, error) {
	where, _, err := r.locate(ctx, d, false)
	if err != nil || where != blobMissing {
		return err == nil, err
	}
	_, err = r.vol.Stat(ctx, dedup.BlobName(d))
	if hsm.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}
