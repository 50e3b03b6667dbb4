package redolog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// source is where a Reader learns which segments exist and how far each may
// be read: the live index of an open Log, or a fixed listing for ReadDir.
type source interface {
	// segments returns the segments, oldest first, with their paths.
	segments() ([]segment, []string, error)
	// state returns how far the segment starting at first may be read,
	// whether it is sealed (no byte will be added), whether it is now a gap
	// segment (AcceptGap replaces an empty active segment by one of the same
	// name) and, for a segment still growing, a channel closed at the next
	// change.
	state(first uint64) (end int64, sealed, gap bool, wait <-chan struct{}, err error)
	// tornTailOK reports whether a bad record at the end of this segment is
	// a torn write to stop at rather than corruption.
	tornTailOK(first uint64) bool
}

// Reader iterates records in LSN order. It is not safe for concurrent use.
type Reader struct {
	src  source
	fs   vfs.FS
	tail bool
	next uint64

	f        vfs.File
	path     string
	segFirst uint64
	off      int64
	buf      []byte
	bufOff   int64
	closed   bool
	gap      *Gap // set by openSegment for a gap segment, until Next reports it
}

// NewReader returns a reader of the durable records with LSN >= from. Next
// returns io.EOF after the last durable record. from == 0 means the oldest
// record held. An older from than that fails with ErrTruncated.
func (l *Log) NewReader(from uint64) (*Reader, error) { return l.newReader(from, false) }

// Tail is NewReader whose Next, at the end, blocks until a new record is
// durable or its context ends. It follows rollover and archiving without
// missing or repeating a record, and returns ErrClosed once the log closes.
func (l *Log) Tail(from uint64) (*Reader, error) { return l.newReader(from, true) }

func (l *Log) newReader(from uint64, tail bool) (*Reader, error) {
	r := &Reader{src: liveSource{l}, fs: l.fs, tail: tail}
	if err := r.seek(from); err != nil {
		return nil, err
	}
	return r, nil
}

// ReadDir returns a reader of the log in dir without opening it for write
// and without taking its lock, for dump, verify and backup tools. It reads
// what the files hold when it reaches them; a torn record at the end of the
// newest segment ends the iteration like io.EOF.
func ReadDir(fs vfs.FS, dir string, from uint64) (*Reader, error) {
	src, err := newDirSource(fs, dir)
	if err != nil {
		return nil, err
	}
	r := &Reader{src: src, fs: fs}
	if err := r.seek(from); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reader) seek(from uint64) error {
	segs, _, err := r.src.segments()
	if err != nil {
		return err
	}
	oldest := uint64(1)
	if len(segs) > 0 {
		oldest = segs[0].first
	}
	switch {
	case from == 0:
		from = oldest
	case from < oldest:
		return truncatedErr(from, oldest)
	}
	for i, sg := range segs {
		if !sg.gap || from < sg.first || i+1 < len(segs) && from >= segs[i+1].first {
			continue
		}
		if from <= sg.last {
			return &GapError{Gap: Gap{From: sg.first, To: sg.last}}
		}
	}
	r.next = from
	return nil
}

func truncatedErr(lsn, oldest uint64) error {
	return fmt.Errorf("%w: lsn %d no longer held, oldest is %d", ErrTruncated, lsn, oldest)
}

// Next returns the next record. Its payload is the reader's own copy.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	if r.closed {
		return Record{}, ErrClosed
	}
	for {
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		if r.f == nil {
			if err := r.openSegment(); err != nil {
				return Record{}, err
			}
		}
		if g := r.gap; g != nil {
			// A gap segment is reported once and left at once.
			r.gap = nil
			_ = r.f.Close()
			r.f = nil
			if g.To < r.next {
				continue
			}
			r.next = g.To + 1
			return Record{}, &GapError{Gap: *g}
		}
		end, sealed, gap, wait, err := r.src.state(r.segFirst)
		if err != nil {
			return Record{}, err
		}
		if gap {
			// The empty active segment this reader waited in became a
			// gap segment: open that instead.
			_ = r.f.Close()
			r.f, r.segFirst = nil, 0
			continue
		}
		if r.off < end {
			rec, n, err := r.decodeAt(end)
			if err != nil {
				if sealed && r.src.tornTailOK(r.segFirst) && !r.validFollows(end) {
					return Record{}, io.EOF
				}
				return Record{}, fmt.Errorf("segment %s offset %d: %w", r.path, r.off, err)
			}
			r.off += int64(n)
			if rec.LSN < r.next {
				continue
			}
			if rec.LSN != r.next {
				return Record{}, fmt.Errorf("%w: segment %s offset %d: lsn %d, want %d",
					ErrCorrupt, r.path, r.off-int64(n), rec.LSN, r.next)
			}
			r.next++
			rec.Payload = bytes.Clone(rec.Payload)
			return rec, nil
		}
		if sealed {
			_ = r.f.Close()
			r.f = nil
			continue
		}
		if !r.tail {
			return Record{}, io.EOF
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// openSegment opens the segment that holds r.next, or returns io.EOF if
// the reader has passed the last one.
func (r *Reader) openSegment() error {
	for attempt := 0; ; attempt++ {
		segs, paths, err := r.src.segments()
		if err != nil {
			return err
		}
		if len(segs) == 0 {
			return io.EOF
		}
		if r.next < segs[0].first {
			return truncatedErr(r.next, segs[0].first)
		}
		i := len(segs) - 1
		for i > 0 && segs[i].first > r.next {
			i--
		}
		s := segs[i]
		if s.first == r.segFirst && r.segFirst != 0 {
			// The segment just finished is still the newest that could
			// hold r.next: either the end of a fixed listing, or a gap.
			if i < len(segs)-1 {
				return fmt.Errorf("%w: no segment holds lsn %d (next starts at %d)", ErrCorrupt, r.next, segs[i+1].first)
			}
			return io.EOF
		}
		if r.segFirst != 0 && s.first != r.next && s.first > r.segFirst {
			return fmt.Errorf("%w: segment %s starts at lsn %d, want %d", ErrCorrupt, paths[i], s.first, r.next)
		}
		path := paths[i]
		f, err := r.fs.Open(path)
		if errors.Is(err, os.ErrNotExist) && !s.archived {
			// Sealed since we looked: a seal renames the file from the
			// log directory into archive/ before the index says so.
			path = r.fs.PathJoin(r.fs.PathDir(path), archiveDir, r.fs.PathBase(path))
			f, err = r.fs.Open(path)
		}
		if errors.Is(err, os.ErrNotExist) && attempt < 3 {
			continue // truncated while we looked: the index will say so
		}
		if err != nil {
			return fmt.Errorf("redolog: open segment: %w", err)
		}
		hdr := make([]byte, headerSizeV1)
		n, err := f.ReadAt(hdr, 0)
		if err != nil && err != io.EOF {
			_ = f.Close()
			return fmt.Errorf("redolog: read %s: %w", path, err)
		}
		h, err := parseHeader(hdr[:n])
		if err != nil {
			_ = f.Close()
			if r.src.tornTailOK(s.first) && errors.Is(err, errShortHeader) {
				return io.EOF
			}
			return fmt.Errorf("segment %s offset 0: %w", path, err)
		}
		r.f, r.path, r.segFirst, r.off = f, path, s.first, int64(h.size)
		r.buf, r.bufOff = r.buf[:0], 0
		if h.gap {
			g, err := readGap(f, path, h, s.first)
			if err != nil {
				_ = f.Close()
				r.f = nil
				return err
			}
			r.gap = &g
		}
		return nil
	}
}

// maxGapSegment bounds what is read of a gap segment: a header and one gap
// record with the longest reason.
const maxGapSegment = headerSizeV1 + RecordOverhead + 9 + binary.MaxVarintLen64 + MaxGapReason

// readGap reads and checks the gap record of the gap segment f.
func readGap(f vfs.File, path string, h segHeader, first uint64) (Gap, error) {
	data := make([]byte, maxGapSegment+1)
	n, err := f.ReadAt(data, 0)
	if err != nil && err != io.EOF {
		return Gap{}, fmt.Errorf("redolog: read %s: %w", path, err)
	}
	if n > maxGapSegment {
		return Gap{}, fmt.Errorf("%w: gap segment %s is longer than a gap record", ErrCorrupt, path)
	}
	s := scan{hdr: h, last: first - 1}
	s.scanGap(data[:n], path, first)
	if s.err != nil {
		return Gap{}, s.err
	}
	return *s.gap, nil
}

// decodeAt decodes the record at r.off, reading no byte at or past end.
func (r *Reader) decodeAt(end int64) (Record, int, error) {
	if err := r.fill(frameHeaderSize, end); err != nil {
		return Record{}, 0, err
	}
	b := r.buf[r.off-r.bufOff:]
	length := binary.LittleEndian.Uint32(b)
	if length >= fixedBodySize && length <= fixedBodySize+MaxPayload {
		if err := r.fill(frameHeaderSize+int(length), end); err != nil {
			return Record{}, 0, err
		}
		b = r.buf[r.off-r.bufOff:]
	}
	return DecodeRecord(b)
}

// fill makes r.buf hold at least need bytes from r.off, or all bytes up to
// end if fewer; a short result is left for DecodeRecord to report.
func (r *Reader) fill(need int, end int64) error {
	want := min(int64(need), end-r.off)
	if r.off >= r.bufOff && r.off+want <= r.bufOff+int64(len(r.buf)) {
		return nil
	}
	n := min(max(int64(need), 256<<10), end-r.off)
	if int64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	got, err := r.f.ReadAt(r.buf, r.off)
	if err != nil && err != io.EOF {
		return fmt.Errorf("redolog: read %s: %w", r.path, err)
	}
	r.buf, r.bufOff = r.buf[:got], r.off
	return nil
}

// validFollows reports whether a valid record follows the bad one at r.off.
func (r *Reader) validFollows(end int64) bool {
	rest := make([]byte, end-r.off)
	n, _ := r.f.ReadAt(rest, r.off)
	if n <= 1 {
		return false
	}
	return validAfter(rest[1:n], r.next-1)
}

// Close releases the reader's file. Next after Close returns ErrClosed.
func (r *Reader) Close() error {
	r.closed = true
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		return err
	}
	return nil
}
