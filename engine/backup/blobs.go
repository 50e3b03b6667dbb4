package backup

import (
	"context"
	"fmt"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// putBlob stores raw under its digest, compressed (threshold 0: always).
// It returns the stored size. The caller has checked that the digest is
// not stored yet; storing it twice is harmless (same bytes, same name).
func (r *Repository) putBlob(ctx context.Context, d dedup.Digest, raw []byte) (int64, error) {
	enc := dedup.Encode(raw, 0)
	if err := r.putObject(ctx, dedup.BlobName(d), enc); err != nil {
		return 0, fmt.Errorf("put blob %s: %w", d, err)
	}
	return int64(len(enc)), nil
}

// ReadBlob returns the raw bytes of a stored blob, checked against its
// digest: a mismatch or an undecodable object fails with ErrCorrupt, a
// missing one with an error wrapping hsm.ErrNotFound.
func (r *Repository) ReadBlob(ctx context.Context, d dedup.Digest) ([]byte, error) {
	b, err := hsm.ReadAll(ctx, r.vol, dedup.BlobName(d))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	raw, err := dedup.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w: %v", d, ErrCorrupt, err)
	}
	if dedup.Sum(raw) != d {
		return nil, fmt.Errorf("read blob %s: %w: digest mismatch", d, ErrCorrupt)
	}
	return raw, nil
}

// HasBlob reports whether a blob object exists (without reading it).
func (r *Repository) HasBlob(ctx context.Context, d dedup.Digest) (bool, error) {
	_, err := r.vol.Stat(ctx, dedup.BlobName(d))
	if hsm.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}
