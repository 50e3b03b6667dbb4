package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// storeBlobFirst makes a blob durable on the primary volume p before its
// record is queued, unless a blob with that digest is already known.
// It runs on the caller's goroutine, so deliverers write in parallel.
func (e *Engine) storeBlobFirst(ctx context.Context, p *primaryState, d dedup.Digest, raw []byte, force bool) (wrote bool, err error) {
	if !force {
		var br blobRec
		ok, err := getVal(e.db, blobKey(d), &br)
		if err != nil {
			return false, err
		}
		if ok {
			return false, nil
		}
	}
	framed := dedup.Encode(raw, p.threshold)
	if err := p.vol.Put(ctx, dedup.BlobName(d), bytes.NewReader(framed), int64(len(framed))); err != nil {
		return false, fmt.Errorf("engine: store blob: %w", err)
	}
	return true, nil
}

// volumeOf returns the volume holding a blob.
func (e *Engine) volumeOf(ctx context.Context, d dedup.Digest) (hsm.Volume, string, error) {
	var br blobRec
	ok, err := getVal(e.db, blobKey(d), &br)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", fmt.Errorf("%w: blob %s %w", ErrCorrupt, d, errNoBlobRecord)
	}
	v, err := e.volume(ctx, br.Volume)
	if err != nil {
		return nil, "", fmt.Errorf("engine: blob %s: %w", d, err)
	}
	return v, br.Volume, nil
}

// errNoBlobRecord marks volumeOf's error for a digest without a blob
// record: corruption when an item names it, a blob already collected
// when a caller read by digest (ReadBlobOf).
var errNoBlobRecord = errors.New("has no record")

// onBlobVolume runs read on the volume holding d. A read that finds the
// object missing after the blob moved (its old copy deleted between the
// lookup and the read) runs again on the new volume.
func (e *Engine) onBlobVolume(ctx context.Context, d dedup.Digest, read func(hsm.Volume) error) error {
	for try := 0; ; try++ {
		v, name, err := e.volumeOf(ctx, d)
		if err != nil {
			return err
		}
		err = read(v)
		if err == nil || !hsm.IsNotFound(err) || try >= 2 {
			return err
		}
		if _, now, err2 := e.volumeOf(ctx, d); err2 != nil || now == name {
			return err
		}
	}
}

// ReadBlobOf reads the raw bytes of the message stored as blob d, as
// AppendBlob does for an item, without reading the item: an IMAP FETCH
// knows the digest from its view, and saves a lookup per message. The
// bytes are read into buf's capacity (a new buffer when it is too small)
// and returned with the buffer to pass to the next call; they may lie
// anywhere in it, and a pending inline copy or a compressed blob is
// returned from memory of its own. The caller must not modify them. A
// blob that is gone (its items expunged and collected) is ErrNotFound.
//
// The primary volume is tried first, without the blob's record: blobs
// are named by their digest, so any copy found is the message, and most
// are on the primary. Anything else (not there, moved by HSM, an error)
// goes the usual way, by the record.
func (e *Engine) ReadBlobOf(ctx context.Context, d Digest, buf []byte) (raw, next []byte, err error) {
	if raw, ok := e.copies.lookup(d); ok {
		return raw, buf, nil
	}
	if r, ok := e.prim().vol.(objectReader); ok {
		framed, nb, err := r.ReadObject(ctx, dedup.BlobName(d), buf)
		if err == nil {
			if raw, err := rawOf(d, framed); err == nil {
				return raw, nb, nil
			}
		}
		buf = nb
	}
	out, err := e.appendBlob(ctx, d, buf[:0])
	if errors.Is(err, errNoBlobRecord) || hsm.IsNotFound(err) {
		return nil, buf, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if err != nil {
		return nil, buf, err
	}
	return out, out[:0], nil
}

// objectReader is a volume that reads an object into a caller's buffer
// and hands out its bytes where they lie (hsm/packvol).
type objectReader interface {
	ReadObject(ctx context.Context, name string, buf []byte) (data, next []byte, err error)
}

// rawOf returns the raw message of a framed blob: the bytes after the
// codec byte of an uncompressed one, in place; a compressed one decoded.
func rawOf(d dedup.Digest, framed []byte) ([]byte, error) {
	if len(framed) > 0 && framed[0] == dedup.CodecRaw {
		return framed[1:], nil
	}
	raw, err := dedup.Decode(framed)
	if err != nil {
		return nil, fmt.Errorf("engine: read blob %s: %w", d, err)
	}
	return raw, nil
}

// readBlob returns a blob's raw bytes: from memory while its inline copy
// is pending, else from its volume. The caller must not modify them.
func (e *Engine) readBlob(ctx context.Context, d dedup.Digest) ([]byte, error) {
	if raw, ok := e.copies.lookup(d); ok {
		return raw, nil
	}
	var framed []byte
	err := e.onBlobVolume(ctx, d, func(v hsm.Volume) (err error) {
		framed, err = hsm.ReadAll(ctx, v, dedup.BlobName(d))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: read blob %s: %w", d, err)
	}
	raw, err := dedup.Decode(framed)
	if err != nil {
		return nil, fmt.Errorf("engine: read blob %s: %w", d, err)
	}
	return raw, nil
}

// objectAppender is a volume that appends an object's bytes to a
// caller's buffer (hsm/packvol), so reading many blobs through one
// reused buffer allocates nothing once it has grown.
type objectAppender interface {
	AppendObject(ctx context.Context, name string, dst []byte) ([]byte, error)
}

// appendBlob appends a blob's raw bytes to dst. An uncompressed blob on
// a volume that is an objectAppender is read into dst's spare capacity;
// otherwise (a pending inline copy, another volume, a compressed blob)
// the bytes are read as readBlob reads them and copied.
func (e *Engine) appendBlob(ctx context.Context, d dedup.Digest, dst []byte) ([]byte, error) {
	if raw, ok := e.copies.lookup(d); ok {
		return append(dst, raw...), nil
	}
	start := len(dst)
	name := dedup.BlobName(d)
	err := e.onBlobVolume(ctx, d, func(v hsm.Volume) (err error) {
		if pv, ok := v.(primaryView); ok {
			// Pending copies were looked up above; one that finished
			// since is on the volume.
			v = pv.Volume
		}
		if a, ok := v.(objectAppender); ok {
			dst, err = a.AppendObject(ctx, name, dst[:start])
			return err
		}
		framed, err := hsm.ReadAll(ctx, v, name)
		dst = append(dst[:start], framed...)
		return err
	})
	if err != nil {
		return dst[:start], fmt.Errorf("engine: read blob %s: %w", d, err)
	}
	raw, err := rawOf(d, dst[start:])
	if err != nil {
		return dst[:start], err
	}
	// An uncompressed blob's bytes lie in dst after the codec byte:
	// append moves them over it (the copy handles the overlap).
	return append(dst[:start], raw...), nil
}

// readBlobRange reads n bytes (n < 0: to the end) at off of a blob's raw
// bytes. Uncompressed blobs are read by range; compressed ones whole.
func (e *Engine) readBlobRange(ctx context.Context, d dedup.Digest, size, off, n int64) ([]byte, error) {
	if off < 0 || off > size {
		return nil, invalidf("range offset %d outside 0..%d", off, size)
	}
	if n < 0 || off+n > size {
		n = size - off
	}
	if raw, ok := e.copies.lookup(d); ok && int64(len(raw)) == size {
		return append([]byte(nil), raw[off:off+n]...), nil
	}
	name := dedup.BlobName(d)
	var out []byte
	compressed := false
	err := e.onBlobVolume(ctx, d, func(v hsm.Volume) error {
		head, err := readRange(ctx, v, name, 0, 1)
		if err != nil {
			return err
		}
		if len(head) == 1 && head[0] == dedup.CodecRaw {
			out, err = readRange(ctx, v, name, 1+off, n)
			return err
		}
		compressed = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !compressed {
		return out, nil
	}
	raw, err := e.readBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	return raw[off : off+n], nil
}

func readRange(ctx context.Context, v hsm.Volume, name string, off, n int64) ([]byte, error) {
	rc, err := v.GetRange(ctx, name, off, n)
	if err != nil {
		return nil, fmt.Errorf("engine: read blob %s: %w", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("engine: read blob %s: %w", name, err)
	}
	return b, nil
}

// collectBatch bounds the deletes of one collection pass, so the writer
// goroutine returns to commands quickly.
const collectBatch = 256

// collect deletes blobs whose count dropped to zero at an LSN both
// checkpointed and (when a consumer is configured) shipped. It runs on the
// writer goroutine, so no command can re-reference a blob while it goes;
// a blob-first writer that skipped writing because the record existed
// finds it gone at validation and rewrites (errBlobGone).
func (e *Engine) collect(ctx context.Context) error {
	if e.poisoned.Load() != nil {
		return nil
	}
	limit := e.checkpoint.Load()
	if e.opts.SafeLSN != nil {
		if s := e.opts.SafeLSN(); s < limit {
			limit = s
		}
	}
	for {
		type drop struct {
			key []byte
			d   dedup.Digest
		}
		var drops []drop
		err := scan(e.db, []byte{tBlobDrop}, func(k, _ []byte) error {
			if len(k) != 1+8+32 {
				return fmt.Errorf("%w: drop key %x", ErrCorrupt, k)
			}
			if binary.BigEndian.Uint64(k[1:9]) > limit || len(drops) >= collectBatch {
				return errStopScan
			}
			var d dedup.Digest
			copy(d[:], k[9:])
			drops = append(drops, drop{append([]byte(nil), k...), d})
			return nil
		})
		if err != nil && err != errStopScan {
			return err
		}
		if len(drops) == 0 {
			return nil
		}
		b := e.db.NewBatch()
		kept := 0
		for _, dr := range drops {
			var br blobRec
			ok, err := getVal(e.db, blobKey(dr.d), &br)
			if err != nil {
				b.Close()
				return err
			}
			if _, pending := e.copies.lookup(dr.d); pending {
				// Its copy is not written yet (a checkpoint waits for
				// copies, so this should not happen): deleting now would
				// let the copy re-create it. Keep the drop for later.
				kept++
				continue
			}
			if ok && br.Refs == 0 {
				if br.Volume != e.prim().name {
					// Another volume (an S3 one) may be unreachable: its
					// deletes get a short deadline and, once one fails,
					// wait a minute, so this goroutine, which takes every
					// command, never waits long on it.
					if !e.deleteElsewhere(ctx, br.Volume, dr.d) {
						kept++
						continue
					}
					_ = b.Delete(blobKey(dr.d), nil)
					_ = b.Delete(dr.key, nil)
					continue
				}
				v, err := e.volume(ctx, br.Volume)
				if err != nil {
					b.Close()
					return fmt.Errorf("delete blob %s: %w", dr.d, err)
				}
				e.gcGen.Add(1)
				if err := v.Delete(ctx, dedup.BlobName(dr.d)); err != nil {
					b.Close()
					return fmt.Errorf("delete blob %s: %w", dr.d, err)
				}
				_ = b.Delete(blobKey(dr.d), nil)
			}
			_ = b.Delete(dr.key, nil)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		if len(drops) == collectBatch && kept < len(drops) {
			// More to do: yield to queued commands, then continue.
			select {
			case e.gcKick <- struct{}{}:
			default:
			}
		}
		return nil
	}
}

// Deletes of collected blobs on volumes other than the primary: each has
// this deadline, and a volume whose delete failed is left alone this long.
var (
	elsewhereDeleteTimeout = 5 * time.Second
	elsewhereDownFor       = time.Minute
)

// deleteElsewhere deletes a collected blob from a volume other than the
// primary, on the writer goroutine (like every collection), and reports
// whether it is gone. It is not tried while the volume is marked down.
func (e *Engine) deleteElsewhere(ctx context.Context, vol string, d dedup.Digest) bool {
	if until, ok := e.volDown[vol]; ok && e.opts.Now().Before(until) {
		return false
	}
	v, err := e.volume(ctx, vol)
	if err == nil {
		e.gcGen.Add(1)
		dctx, cancel := context.WithTimeout(ctx, elsewhereDeleteTimeout)
		err = v.Delete(dctx, dedup.BlobName(d))
		cancel()
	}
	if err != nil {
		if e.volDown == nil {
			e.volDown = map[string]time.Time{}
		}
		e.volDown[vol] = e.opts.Now().Add(elsewhereDownFor)
		e.opts.Logger.Warn("engine: delete collected blob; the volume is left alone for a minute", "volume", vol, "blob", d.String(), "err", err)
		return false
	}
	delete(e.volDown, vol)
	return true
}

type stopScan struct{}

func (stopScan) Error() string { return "stop" }

var errStopScan error = stopScan{}
