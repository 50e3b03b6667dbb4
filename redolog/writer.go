package redolog

import (
	"fmt"
	"time"
)

// request is one caller's Append, AppendBatch or Seal waiting for the
// writer goroutine.
type request struct {
	entries []Entry
	recs    []Record
	size    int // encoded bytes
	seal    bool
	// AcceptGap: gapTo > 0 makes this a gap request; gap is its result.
	gapTo     uint64
	gapReason string
	gap       Gap
	err       error
	done      chan struct{}
}

// Append appends one record and returns its LSN and commit time once it is
// durable (written and fsynced). Concurrent callers share one write and one
// fsync. After a write or fsync error every Append fails with ErrFailed.
func (l *Log) Append(typ uint16, payload []byte) (lsn uint64, t time.Time, err error) {
	recs, err := l.AppendBatch([]Entry{{Type: typ, Payload: payload}})
	if err != nil {
		return 0, time.Time{}, err
	}
	return recs[0].LSN, time.Unix(0, recs[0].Time).UTC(), nil
}

// AppendBatch appends entries as records with consecutive LSNs, in one write
// and one fsync, all or nothing, and returns them once durable. The returned
// payloads alias the entries'.
func (l *Log) AppendBatch(entries []Entry) ([]Record, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	r := &request{entries: entries, recs: make([]Record, len(entries)), done: make(chan struct{})}
	for i, e := range entries {
		if e.Type == TypeGap {
			return nil, fmt.Errorf("redolog: append: record type %#x is reserved for gap records", TypeGap)
		}
		if len(e.Payload) > MaxPayload {
			return nil, fmt.Errorf("redolog: append: payload of %d bytes exceeds %d", len(e.Payload), MaxPayload)
		}
		r.size += RecordOverhead + len(e.Payload)
		r.recs[i] = Record{Type: e.Type, Payload: e.Payload, Time: e.Time}
	}
	// Latency is wall-clock time, not the record clock (Options.Now),
	// and read only for OnAppend.
	var start time.Time
	if l.opts.OnAppend != nil {
		start = time.Now()
	}
	if err := l.submit(r); err != nil {
		return nil, err
	}
	if l.opts.OnAppend != nil {
		l.opts.OnAppend(len(r.recs), time.Since(start))
	}
	return r.recs, nil
}

// Seal closes the active segment if it holds any record, moves it to
// archive/ and starts a new one, so a consumer can ship it. Appends queued
// before Seal land in the sealed segment.
func (l *Log) Seal() error {
	return l.submit(&request{seal: true, done: make(chan struct{})})
}

// submit queues r for the writer and waits for its result.
func (l *Log) submit(r *request) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.failed != nil:
		err := l.failed
		l.mu.Unlock()
		return err
	}
	l.pending = append(l.pending, r)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-r.done
	return r.err
}

// run is the writer goroutine: it takes everything pending, writes it as
// one batch, fsyncs, publishes the new durable end and answers the callers.
// Callers that arrive during the fsync form the next batch.
func (l *Log) run() {
	defer close(l.done)
	for {
		quitting := false
		select {
		case <-l.wake:
		case <-l.quit:
			quitting = true
		}
		if !quitting && l.opts.Sync == SyncDelayed {
			t := time.NewTimer(l.opts.BatchDelay)
			select {
			case <-t.C:
			case <-l.quit:
				t.Stop()
				quitting = true
			}
		}
		for {
			// Swap the queue with the spare slice, so callers append to
			// one array while the writer works through the other.
			l.mu.Lock()
			reqs := l.pending
			if len(reqs) == 0 {
				l.mu.Unlock()
				break
			}
			l.pending = l.spare[:0]
			l.mu.Unlock()
			l.process(reqs)
			clear(reqs)
			l.spare = reqs
		}
		if quitting {
			return
		}
	}
}

// process handles one drained queue, cutting it into batches at segment
// boundaries, seals and the batch size bound.
func (l *Log) process(reqs []*request) {
	for i := 0; i < len(reqs); {
		if l.failed != nil {
			finish(reqs[i:], l.failed)
			return
		}
		if reqs[i].seal {
			var err error
			if l.activeSize > int64(l.activeHdr) {
				err = l.rollover()
			}
			finish(reqs[i:i+1], err)
			i++
			continue
		}
		if reqs[i].gapTo != 0 {
			finish(reqs[i:i+1], l.writeGap(reqs[i]))
			i++
			continue
		}
		start := i
		buf := l.buf[:0]
		next, last := l.nextLSN, l.lastTime
		now := l.opts.Now().UnixNano()
		for i < len(reqs) && !reqs[i].seal && reqs[i].gapTo == 0 {
			r := reqs[i]
			used := l.activeSize + int64(len(buf))
			if used > int64(l.activeHdr) && used+int64(r.size) > l.opts.SegmentSize {
				break
			}
			if i > start && len(buf)+r.size > maxBatchBytes {
				break
			}
			for j := range r.recs {
				t := now
				if r.recs[j].Time != 0 {
					t = r.recs[j].Time
				}
				last = max(t, last+1)
				r.recs[j].LSN, r.recs[j].Time = next, last
				next++
				buf = AppendRecord(buf, r.recs[j])
			}
			i++
		}
		if i == start {
			// The next request does not fit: seal, then retry it in the
			// new, empty segment, where it always fits.
			if err := l.rollover(); err != nil {
				finish(reqs[i:], err)
				return
			}
			continue
		}
		l.buf = buf
		finish(reqs[start:i], l.writeBatch(buf, next, last))
	}
}

// finish answers requests with err.
func finish(reqs []*request, err error) {
	for _, r := range reqs {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

// writeBatch writes buf at the end of the active segment, fsyncs it and
// publishes the new durable end. Any error poisons the log: the bytes may or
// may not be on disk, and only recovery can tell.
func (l *Log) writeBatch(buf []byte, next uint64, lastTime int64) error {
	var start time.Time
	if l.opts.OnSync != nil {
		start = time.Now()
	}
	if _, err := l.active.WriteAt(buf, l.activeSize); err != nil {
		return l.poison(fmt.Errorf("write segment %s: %w", segmentName(l.activeFirst), err))
	}
	if err := l.active.SyncData(); err != nil {
		return l.poison(fmt.Errorf("sync segment %s: %w", segmentName(l.activeFirst), err))
	}
	if l.opts.OnSync != nil {
		l.opts.OnSync(len(buf), time.Since(start))
	}
	l.activeSize += int64(len(buf))
	l.nextLSN, l.lastTime = next, lastTime
	l.mu.Lock()
	s := &l.segs[len(l.segs)-1]
	s.end, s.last = l.activeSize, next-1
	l.durable, l.durTime = next-1, lastTime
	l.changedLocked()
	l.mu.Unlock()
	return nil
}

// poison marks the log failed and returns the error for the current batch.
func (l *Log) poison(err error) error {
	l.mu.Lock()
	l.failed = fmt.Errorf("%w: %v", ErrFailed, err)
	l.mu.Unlock()
	return fmt.Errorf("redolog: %w: %w", ErrFailed, err)
}

// rollover seals the active segment into the archive and starts a new one.
// The new segment is created first: a crash in between leaves two root
// segments, which recovery seals in order.
func (l *Log) rollover() error {
	oldFirst := l.activeFirst
	if err := l.startSegment(); err != nil {
		return l.poison(fmt.Errorf("rollover: %w", err))
	}
	name := segmentName(oldFirst)
	if err := l.sealFile(name, nil, false); err != nil {
		return l.poison(fmt.Errorf("rollover: %w", err))
	}
	l.mu.Lock()
	for i := range l.segs {
		if l.segs[i].first == oldFirst {
			l.segs[i].archived = true
		}
	}
	l.changedLocked()
	l.mu.Unlock()
	return nil
}
