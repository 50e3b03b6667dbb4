package engine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/redolog"
)

// The redo log as others see it: the backup scanner follows it and status
// measures its lag on it. Only the engine appends to it and trims it.

// TailLog returns a reader of the redo log from LSN from whose Next waits
// at the end for new durable records. A from older than the oldest record
// held fails with an error wrapping redolog.ErrTruncated.
func (e *Engine) TailLog(from uint64) (*redolog.Reader, error) { return e.log.Tail(from) }

// ReadLog is TailLog whose Next returns io.EOF at the end.
func (e *Engine) ReadLog(from uint64) (*redolog.Reader, error) { return e.log.NewReader(from) }

// LogFirstLSN is the oldest record the redo log holds.
func (e *Engine) LogFirstLSN() uint64 { return e.log.FirstLSN() }

// LogLastLSN is the newest durable record of the redo log.
func (e *Engine) LogLastLSN() uint64 { return e.log.LastLSN() }

// TrimLog removes the archived redo segments nobody needs any more: those
// wholly at or below both the checkpoint (recovery replays only what
// follows it) and, with a consumer (Options.SafeLSN), the position it
// has shipped. The server runs it every Options.LogRetention.
func (e *Engine) TrimLog() error {
	keep := e.CheckpointLSN()
	if e.opts.SafeLSN != nil {
		keep = min(keep, e.opts.SafeLSN())
	}
	if keep == 0 {
		return nil
	}
	if err := e.log.Truncate(keep + 1); err != nil {
		return fmt.Errorf("engine: trim redo log below %d: %w", keep+1, err)
	}
	return nil
}

func (e *Engine) retentionLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.opts.LogRetention)
	defer t.Stop()
	for {
		select {
		case <-e.quit:
			return
		case <-t.C:
		}
		if err := e.TrimLog(); err != nil {
			e.opts.Logger.Warn("trim redo log", "err", err)
		}
	}
}

// OpenPrimaryBlob opens a blob on the primary volume by its digest and
// decodes its codec header as it is read; a blob not there is read from
// the volume its blob record names (an earlier primary, a move's target),
// and one with no record fails with the primary's not-found error.
func (e *Engine) OpenPrimaryBlob(ctx context.Context, d dedup.Digest) (io.ReadCloser, error) {
	rc, err := e.primaryView().Get(ctx, dedup.BlobName(d))
	if hsm.IsNotFound(err) {
		// On a volume that was the primary before (primaryswitch.go) or
		// that a move took it to: read it where its record says.
		err2 := e.onBlobVolume(ctx, d, func(v hsm.Volume) (err error) {
			rc, err = v.Get(ctx, dedup.BlobName(d))
			return err
		})
		if err2 == nil {
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	dr, err := dedup.NewDecodeReader(rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return decodedBlob{dr, rc}, nil
}

type decodedBlob struct {
	io.ReadCloser
	under io.Closer
}

func (d decodedBlob) Close() error {
	err := d.ReadCloser.Close()
	if e := d.under.Close(); err == nil {
		err = e
	}
	return err
}
