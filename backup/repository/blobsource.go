package repository

import (
	"context"
	"io"

	"github.com/tidemark/tidemark/dedup"
)

// BlobRef says which blob the scanner needs and where it was last seen.
type BlobRef struct {
	Digest  dedup.Digest
	Size    int64
	Volume  string // volume named by the record; may have moved since
	Account uint64 // an item holding the blob, for a lookup through the engine
	Item    uint64
}

// BlobSource opens raw blobs of the primary store. A blob that no longer
// exists fails with an error satisfying hsm.IsNotFound.
type BlobSource interface {
	OpenBlob(ctx context.Context, ref BlobRef) (io.ReadCloser, error)
}
