package repository

import (
	"context"
	"fmt"
	"strings"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// CheckPack reads a pack's index and, with readData, every chunk, and
// returns the blobs it holds intact and, when it is damaged, what is wrong.
func (r *Repository) CheckPack(ctx context.Context, name string, size int64, readData bool) ([]dedup.Digest, string, error) {
	pi, err := r.readPackIndex(ctx, name, size)
	if IsCorrupt(err) {
		return nil, err.Error(), nil
	}
	if err != nil {
		return nil, "", err
	}
	var good []dedup.Digest
	var bad []string
	if readData {
		h, err := r.GetRange(ctx, name, 0, packHeaderSize)
		if err == nil {
			err = checkPackHeader(h)
		}
		if IsCorrupt(err) {
			bad = append(bad, err.Error())
		} else if err != nil {
			return nil, "", err
		}
	}
	for ci, c := range pi.Chunks {
		var raw []byte
		if readData {
			stored, err := r.GetRange(ctx, name, c.Off, c.Stored)
			if err == nil {
				raw, err = DecodeChunk(stored, c)
			}
			if IsCorrupt(err) {
				bad = append(bad, fmt.Sprintf("chunk at %d: %v", c.Off, err))
				continue
			}
			if err != nil {
				return nil, "", err
			}
		}
		for _, b := range pi.Blobs {
			if b.Chunk != ci {
				continue
			}
			if raw != nil && dedup.Sum(raw[b.Off:b.Off+b.Len]) != b.Digest {
				bad = append(bad, fmt.Sprintf("blob %s: digest mismatch", b.Digest))
				continue
			}
			good = append(good, b.Digest)
		}
	}
	return good, strings.Join(bad, "; "), nil
}

// SalvagePack stores the intact blobs of a damaged pack in a new pack,
// durably, then moves the damaged one to quarantine/.
func (r *Repository) SalvagePack(ctx context.Context, name string, good []dedup.Digest) error {
	w := NewPackWriter(r, nil)
	for _, d := range good {
		raw, err := r.ReadBlob(ctx, d)
		if err != nil {
			continue
		}
		w.Add(ctx, d, raw)
	}
	if _, err := w.Flush(ctx); err != nil {
		return err
	}
	return Quarantine(ctx, r, name)
}

// quarantine moves an object under quarantine/ (copy, then delete).
func Quarantine(ctx context.Context, r *Repository, name string) error {
	b, err := hsm.ReadAll(ctx, r.vol, name)
	if err != nil {
		return err
	}
	if err := hsm.PutBytes(ctx, r.vol, QuarantinePrefix+name, b); err != nil {
		return err
	}
	return r.DeleteObject(ctx, name)
}
