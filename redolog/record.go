package redolog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/tidemark/tidemark/internal/corrupt"
)

// Sentinel errors. Every error this package returns for these conditions
// wraps one of them, so callers test with errors.Is.
var (
	// ErrCorrupt marks bytes that cannot be a record the log wrote: a bad
	// checksum, an impossible length, an LSN out of sequence, a bad segment
	// header. The error text names the segment file and byte offset.
	ErrCorrupt = corrupt.New("redolog: corrupt")
	// ErrClosed is returned by calls on a closed Log and by readers of it.
	ErrClosed = errors.New("redolog: closed")
	// ErrFailed is returned by every Append after a write or fsync error
	// poisoned the handle. Reopen the log to recover.
	ErrFailed = errors.New("redolog: log failed, reopen to recover")
	// ErrTruncated is returned when a reader asks for an LSN older than the
	// oldest record still held.
	ErrTruncated = errors.New("redolog: truncated")
	// ErrLocked is returned by Open when another handle holds the directory.
	ErrLocked = errors.New("redolog: directory locked by another user")
)

// errShort reports input that ends inside a record. It wraps ErrCorrupt
// because for a complete buffer it is corruption; recovery treats it at the
// very end of the active segment as a torn write.
var errShort = fmt.Errorf("%w: record extends past end of input", ErrCorrupt)

const (
	// frameHeaderSize is length + crc.
	frameHeaderSize = 8
	// fixedBodySize is lsn + time + type: the body of an empty payload.
	fixedBodySize = 8 + 8 + 2
	// RecordOverhead is the framed size of a record minus its payload.
	RecordOverhead = frameHeaderSize + fixedBodySize
	// MaxPayload bounds one record's payload. Larger lengths are treated as
	// corruption, which also keeps a garbage length from allocating gigabytes.
	MaxPayload = 64<<20 - RecordOverhead
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one entry of the log.
type Record struct {
	// LSN is the log sequence number: dense, starting at 1, never reused.
	LSN uint64
	// Time is the commit time in unix nanoseconds, UTC. It strictly
	// increases with LSN: each record gets max(now, previous+1).
	Time int64
	// Type is the caller's record type; the log does not interpret it.
	Type uint16
	// Payload is the opaque record body.
	Payload []byte
}

// Entry is one record to append: the log assigns its LSN and, unless Time
// is set, its time.
type Entry struct {
	Type    uint16
	Payload []byte
	// Time, when not zero, is the commit time to record (unix ns) instead
	// of the clock's: a restore rebuilding a log from a backup keeps each
	// record's original time this way. Times stay strictly increasing: a
	// Time at or before the previous record's becomes that time + 1 ns.
	Time int64
}

// EncodedSize returns the number of bytes AppendRecord adds for r.
func (r Record) EncodedSize() int { return RecordOverhead + len(r.Payload) }

// AppendRecord appends the framed encoding of r to dst and returns the
// extended slice. It panics if the payload exceeds MaxPayload; the log checks
// that before it assigns an LSN.
func AppendRecord(dst []byte, r Record) []byte {
	if len(r.Payload) > MaxPayload {
		panic(fmt.Sprintf("redolog: payload of %d bytes exceeds MaxPayload", len(r.Payload)))
	}
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(fixedBodySize+len(r.Payload)))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // crc, filled below
	dst = binary.LittleEndian.AppendUint64(dst, r.LSN)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time))
	dst = binary.LittleEndian.AppendUint16(dst, r.Type)
	dst = append(dst, r.Payload...)
	binary.LittleEndian.PutUint32(dst[start+4:], recordCRC(dst[start:]))
	return dst
}

// recordCRC is the CRC-32C of a framed record with its crc field skipped:
// the length is covered too, so a flipped length bit cannot pass.
func recordCRC(frame []byte) uint32 {
	c := crc32.Update(0, castagnoli, frame[:4])
	return crc32.Update(c, castagnoli, frame[frameHeaderSize:])
}

// DecodeRecord decodes the framed record at the start of b and returns it
// with the number of bytes it occupied. The payload aliases b. Input that ends
// inside the record, has an impossible length or fails its checksum returns
// an error wrapping ErrCorrupt; DecodeRecord never panics.
func DecodeRecord(b []byte) (r Record, n int, err error) {
	if len(b) < frameHeaderSize {
		return Record{}, 0, errShort
	}
	length := binary.LittleEndian.Uint32(b)
	if length < fixedBodySize || length > fixedBodySize+MaxPayload {
		return Record{}, 0, fmt.Errorf("%w: record length %d out of range", ErrCorrupt, length)
	}
	n = frameHeaderSize + int(length)
	if len(b) < n {
		return Record{}, 0, errShort
	}
	frame := b[:n]
	if got, want := recordCRC(frame), binary.LittleEndian.Uint32(frame[4:]); got != want {
		return Record{}, 0, fmt.Errorf("%w: record checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	r.LSN = binary.LittleEndian.Uint64(frame[8:])
	r.Time = int64(binary.LittleEndian.Uint64(frame[16:]))
	r.Type = binary.LittleEndian.Uint16(frame[24:])
	r.Payload = frame[RecordOverhead:n:n]
	if r.LSN == 0 {
		return Record{}, 0, fmt.Errorf("%w: record with lsn 0", ErrCorrupt)
	}
	return r, n, nil
}
