package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/internal/tune"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// process adds one redo record to the open segment: blobs first (so a
// shipped segment never references a blob the repository lacks), then the
// stripped record, then its effect on the pending catalog batch. Called
// with s.mu held.
func (s *Scanner) process(ctx context.Context, rec redolog.Record) error {
	if s.tx == nil {
		s.tx = s.cat.NewTxn()
		s.batchBlob = map[dedup.Digest]bool{}
	}
	if s.processed == s.pos.LSN {
		s.openSince = s.o.Pacer.Now()
		s.pending.Store(rec.Time)
	}
	stored, keep, err := s.strip(ctx, rec)
	if err != nil {
		return err
	}
	s.processed, s.lastTime = rec.LSN, rec.Time
	if !keep {
		return nil
	}
	if err := s.tx.Apply(stored); err != nil {
		return fmt.Errorf("scanner: %w", err)
	}
	s.open = append(s.open, stored)
	s.openBytes += stored.EncodedSize()
	s.stats.records.Add(1)
	return nil
}

// strip returns the record as the repository stores it: MessageAdded
// without blob bytes and without targets of accounts not backed up (whose
// mailbox records are left out entirely). It copies the blob first.
func (s *Scanner) strip(ctx context.Context, rec redolog.Record) (redolog.Record, bool, error) {
	ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
	if errors.Is(err, event.ErrUnknownType) {
		return rec, true, nil // a newer engine's record: keep it as is
	}
	if err != nil {
		return rec, false, fmt.Errorf("scanner: lsn %d: %w", rec.LSN, err)
	}
	switch e := ev.(type) {
	case event.MessageAdded:
		targets := e.Targets[:0:0]
		for _, tg := range e.Targets {
			in, err := s.tx.Included(tg.Account)
			if err != nil {
				return rec, false, err
			}
			if in {
				targets = append(targets, tg)
			}
		}
		if len(targets) == 0 {
			return rec, false, nil
		}
		ref := repository.BlobRef{Digest: dedup.Digest(e.Digest), Size: e.Size, Volume: e.Volume, Account: targets[0].Account, Item: targets[0].Item}
		if err := s.copyBlob(ctx, ref, e.Blob); err != nil {
			return rec, false, err
		}
		if len(e.Blob) == 0 && len(targets) == len(e.Targets) {
			return rec, true, nil
		}
		e.Blob, e.Targets = nil, targets
		out := rec
		out.Payload = event.MustEncode(e)
		return out, true, nil
	case event.AccountScoped:
		switch ev.(type) {
		case event.AccountCreated, event.AccountModified, event.AccountRenamed, event.AccountDeleted,
			event.PasswordSet, event.AliasAdded, event.AliasRemoved:
			return rec, true, nil // provisioning is always kept
		}
		in, err := s.tx.Included(e.AccountID())
		return rec, in, err
	}
	return rec, true, nil
}

// copyBlob stores a blob in the repository unless it is there already.
// inline holds the bytes when the record carried them. The upload runs in
// the background (at most Options.Uploads at once); ship waits for every
// upload before it stores the segment that references them.
func (s *Scanner) copyBlob(ctx context.Context, ref repository.BlobRef, inline []byte) error {
	if s.batchBlob[ref.Digest] {
		return nil
	}
	if ok, err := s.tx.HasBlob(ref.Digest); err != nil || ok {
		return err
	}
	if len(inline) == 0 && s.blobs == nil {
		return fmt.Errorf("scanner: blob %s is not inline and no blob source is set", ref.Digest)
	}
	s.batchBlob[ref.Digest] = true
	s.uploadSem <- struct{}{}
	s.uploads.Add(1)
	go func() {
		defer s.uploads.Done()
		defer func() { <-s.uploadSem }()
		raw := inline
		var err error
		if len(raw) == 0 {
			raw, err = s.readSource(ctx, ref)
		}
		if err == nil && s.pack != nil && len(raw) < tune.PackLooseMin {
			s.pack.Add(ctx, ref.Digest, raw) // accounted for by waitUploads
			return
		}
		var stored int64
		if err == nil {
			err = s.retry(ctx, "put blob", func() error {
				var err error
				stored, err = s.repo.PutBlobDeferred(ctx, ref.Digest, raw)
				return err
			})
		}
		s.upMu.Lock()
		defer s.upMu.Unlock()
		if err != nil {
			if s.upErr == nil {
				s.upErr = err
			}
			return
		}
		s.upDone = append(s.upDone, uploaded{ref.Digest, catalog.BlobRec{Raw: int64(len(raw)), Stored: stored}})
		s.stats.blobs.Add(1)
	}()
	return nil
}

// uploaded is a finished blob upload waiting for its batch to commit.
type uploaded struct {
	d   dedup.Digest
	rec catalog.BlobRec
}

// waitUploads waits for the background blob uploads, writes the batch's
// pending packs, makes loose blobs durable (one round of fsyncs for the
// whole batch on a volume that defers them)
// and records them in the pending batch. It returns before the caller
// stores the segment or scan object that references the blobs, so such an
// object is never durable while one of its blobs is not. Called with s.mu
// held.
func (s *Scanner) waitUploads(ctx context.Context) error {
	s.uploads.Wait()
	var packed []repository.PackedBlob
	var perr error
	if s.pack != nil {
		// The batch's packs are stored durably (Put) before the segment.
		packed, perr = s.pack.Flush(ctx)
	}
	s.upMu.Lock()
	defer s.upMu.Unlock()
	done, err := s.upDone, s.upErr
	s.upDone, s.upErr = nil, nil
	if err == nil {
		err = perr
	}
	if err == nil && len(done) > 0 {
		err = s.retry(ctx, "sync blobs", func() error { return s.repo.SyncBlobs(ctx) })
	}
	if err != nil {
		// Forget the failed batch's blobs: they are uploaded again when
		// the records are read again.
		s.batchBlob = map[dedup.Digest]bool{}
		return err
	}
	for _, u := range done {
		if err := s.tx.PutBlob(u.d, u.rec); err != nil {
			return err
		}
	}
	for _, p := range packed {
		if err := s.tx.PutBlob(p.D, catalog.BlobRec{Raw: p.Raw, Stored: p.Stored}); err != nil {
			return err
		}
	}
	s.stats.blobs.Add(int64(len(packed)))
	return nil
}

// readSource reads a blob from the primary store and checks its digest.
func (s *Scanner) readSource(ctx context.Context, ref repository.BlobRef) ([]byte, error) {
	var raw []byte
	err := s.retry(ctx, "read primary blob", func() error {
		rc, err := s.blobs.OpenBlob(ctx, ref)
		if err != nil {
			return err
		}
		defer rc.Close()
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, rc); err != nil {
			return err
		}
		raw = buf.Bytes()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if dedup.Sum(raw) != ref.Digest {
		return nil, fmt.Errorf("scanner: primary blob %s: content does not match its digest", ref.Digest)
	}
	return raw, nil
}

// ship seals the open segment, stores it, then commits the catalog batch
// with the new position: the checkpoint never passes what the repository
// holds. Called with s.mu held.
func (s *Scanner) ship(ctx context.Context) error {
	if s.processed == s.pos.LSN {
		return nil
	}
	if s.tx != nil {
		if err := s.waitUploads(ctx); err != nil {
			return err
		}
	}
	first := s.pos.LSN + 1
	if err := s.checkOwner(ctx); err != nil {
		return err
	}
	if len(s.open) > 0 {
		b := repository.EncodeRecords(repository.KindSegment, first, s.processed, s.open)
		name := repository.SegmentName(first, s.processed)
		if err := s.retry(ctx, "put segment", func() error { return s.repo.PutObject(ctx, name, b) }); err != nil {
			return err
		}
		s.stats.segments.Add(1)
	}
	pos := repository.Position{LSN: s.processed, Time: s.lastTime}
	if err := s.commit(pos); err != nil {
		return err
	}
	s.open, s.openBytes = s.open[:0], 0
	if len(s.tx.Rescan()) > 0 {
		s.scanDue.Store(true)
	}
	s.tx.Close()
	s.tx = nil
	return nil
}

// commit writes the pending batch with pos and publishes it.
func (s *Scanner) commit(pos repository.Position) error {
	if s.tx == nil {
		s.tx = s.cat.NewTxn()
	}
	if err := s.tx.Commit(pos); err != nil {
		return fmt.Errorf("scanner: commit catalog: %w", err)
	}
	s.setShipped(pos)
	return nil
}
