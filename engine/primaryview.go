package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// primaryView is the primary volume as the engine's readers see it: an
// inline blob whose volume copy is still pending (copywriter.go) is served
// from the pending map by Get, GetRange and Stat, framed with the raw
// codec header (a valid framing whatever the volume's threshold). Writes,
// Delete and List go to the volume. Primary returns it, so the backup
// scanner and every other reader of blob files find a blob the moment its
// command is answered.
type primaryView struct {
	hsm.Volume
	w *copyWriter
}

var _ hsm.Volume = primaryView{}

// pendingFramed returns the framed bytes of name if its copy is pending.
func (v primaryView) pendingFramed(name string) ([]byte, bool) {
	if v.w.npend.Load() == 0 || !strings.HasPrefix(name, "blobs/") {
		return nil, false
	}
	d, err := dedup.ParseBlobName(name)
	if err != nil {
		return nil, false
	}
	raw, ok := v.w.lookup(d)
	if !ok {
		return nil, false
	}
	framed := make([]byte, 1+len(raw))
	framed[0] = dedup.CodecRaw
	copy(framed[1:], raw)
	return framed, true
}

func (v primaryView) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if b, ok := v.pendingFramed(name); ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return v.Volume.Get(ctx, name)
}

func (v primaryView) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	b, ok := v.pendingFramed(name)
	if !ok {
		return v.Volume.GetRange(ctx, name, off, length)
	}
	size := int64(len(b))
	if off < 0 || off > size || length < -1 {
		return nil, fmt.Errorf("get range %s [%d,+%d): %w", name, off, length, hsm.ErrInvalidRange)
	}
	end := size
	if length >= 0 && off+length < size {
		end = off + length
	}
	return io.NopCloser(bytes.NewReader(b[off:end])), nil
}

func (v primaryView) Stat(ctx context.Context, name string) (hsm.ObjectInfo, error) {
	if b, ok := v.pendingFramed(name); ok {
		return hsm.ObjectInfo{Name: name, Size: int64(len(b)), ModTime: v.w.e.opts.Now()}, nil
	}
	return v.Volume.Stat(ctx, name)
}
