package redolog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tidemark/tidemark/internal/vfsutil"
)

// TypeGap is the record type of a gap record. It is reserved: Append and
// AppendBatch refuse it, and readers never return a gap record as a Record
// (they return a *GapError).
const TypeGap uint16 = 0xFFFF

// MaxGapReason bounds the reason text a gap record keeps.
const MaxGapReason = 4096

// gapVersion is the version byte of a gap record's payload.
const gapVersion = 1

// ErrGap is wrapped by the errors of readers that reach, or are asked to
// start inside, a recorded gap: LSNs the log gave out but no longer holds,
// because their records were lost and the log was told to go on without
// them (AcceptGap). errors.As with *GapError gives the range.
var ErrGap = errors.New("redolog: gap")

// Gap is a recorded range of LSNs whose records the log does not hold.
type Gap struct {
	From, To uint64    // the missing LSNs, inclusive
	Time     time.Time // when the gap was recorded (its record's time); zero if only the index was read
	Reason   string    // why, as given to AcceptGap; empty if only the index was read
}

// GapError is returned by Reader.Next when it reaches a gap, and by
// NewReader, Tail and ReadDir when asked to start inside one. After Next
// returns it, the reader is positioned at Gap.To+1: call Next again to go
// on. It wraps ErrGap.
type GapError struct{ Gap Gap }

func (e *GapError) Error() string {
	msg := fmt.Sprintf("redolog: gap: lsn %d..%d are not held", e.Gap.From, e.Gap.To)
	if !e.Gap.Time.IsZero() {
		msg += fmt.Sprintf(" (recorded %s: %s)", e.Gap.Time.Format(time.RFC3339), e.Gap.Reason)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrGap) hold.
func (e *GapError) Unwrap() error { return ErrGap }

// encodeGap is the payload of a gap record: version u8 = 1, to u64 (little
// endian), uvarint length + reason (UTF-8). The record's own LSN is the
// first missing LSN and its time is when the gap was recorded.
func encodeGap(to uint64, reason string) []byte {
	b := []byte{gapVersion}
	b = binary.LittleEndian.AppendUint64(b, to)
	b = binary.AppendUvarint(b, uint64(len(reason)))
	return append(b, reason...)
}

// decodeGap decodes the gap record r.
func decodeGap(r Record) (Gap, error) {
	p := r.Payload
	if r.Type != TypeGap {
		return Gap{}, fmt.Errorf("%w: gap segment holds a record of type %d", ErrCorrupt, r.Type)
	}
	if len(p) < 9 || p[0] != gapVersion {
		return Gap{}, fmt.Errorf("%w: gap record at lsn %d: bad payload", ErrCorrupt, r.LSN)
	}
	to := binary.LittleEndian.Uint64(p[1:])
	n, k := binary.Uvarint(p[9:])
	if k <= 0 || n > MaxGapReason || uint64(len(p)-9-k) != n {
		return Gap{}, fmt.Errorf("%w: gap record at lsn %d: bad reason length", ErrCorrupt, r.LSN)
	}
	if to < r.LSN {
		return Gap{}, fmt.Errorf("%w: gap record at lsn %d ends at lsn %d", ErrCorrupt, r.LSN, to)
	}
	return Gap{From: r.LSN, To: to, Time: time.Unix(0, r.Time).UTC(), Reason: string(p[9+k:])}, nil
}

// AcceptGap records that the LSNs from the next one the log would give out
// up to to are lost, and moves the log on so the next append gets to+1.
// It is the way back when the records after the log's end are gone but
// their effects are known to be elsewhere (the engine's projection applied
// them before the log's tail was damaged). The gap is durable before
// AcceptGap returns: a segment of its own in archive/ holding one gap
// record (LSN = first missing, time = now, the range and reason), which
// Verify and readers report. A crash leaves either no gap or the whole gap.
// The active segment is sealed first if it holds records.
func (l *Log) AcceptGap(to uint64, reason string) (Gap, error) {
	if to == 0 {
		return Gap{}, errors.New("redolog: accept gap: lsn 0")
	}
	if len(reason) > MaxGapReason || !utf8.ValidString(reason) {
		return Gap{}, fmt.Errorf("redolog: accept gap: reason must be valid UTF-8 of at most %d bytes", MaxGapReason)
	}
	r := &request{gapTo: to, gapReason: reason, done: make(chan struct{})}
	if err := l.submit(r); err != nil {
		return Gap{}, err
	}
	return r.gap, nil
}

// writeGap runs in the writer goroutine: seal, write the gap segment into
// archive/, start the active segment at to+1, drop the empty one.
func (l *Log) writeGap(r *request) error {
	if r.gapTo < l.nextLSN {
		return fmt.Errorf("redolog: accept gap: lsn %d is not after the log's last lsn %d", r.gapTo, l.nextLSN-1)
	}
	if l.activeSize > int64(l.activeHdr) {
		if err := l.rollover(); err != nil {
			return err
		}
	}
	from := l.nextLSN
	t := max(l.opts.Now().UnixNano(), l.lastTime+1)
	rec := Record{LSN: from, Time: t, Type: TypeGap, Payload: encodeGap(r.gapTo, r.gapReason)}
	data := AppendRecord(appendHeaderFlags(nil, from, gapFormatVersion, flagGap), rec)
	name := segmentName(from)
	// The gap segment goes straight into archive/; until the root directory
	// drops the empty active segment of the same name, recovery keeps the
	// archived one (see recover).
	if err := vfsutil.WriteFile(l.fs, l.fs.PathJoin(l.archive, name), data); err != nil {
		return l.poison(fmt.Errorf("accept gap: %w", err))
	}
	old := l.fs.PathJoin(l.dir, name)
	l.mu.Lock()
	l.segs[len(l.segs)-1] = segment{first: from, last: r.gapTo, end: int64(len(data)), hdrSize: headerSizeV1, archived: true, gap: true}
	l.durable = r.gapTo
	l.durTime = t
	l.changedLocked()
	l.mu.Unlock()
	l.nextLSN, l.lastTime = r.gapTo+1, t
	if err := l.startSegment(); err != nil {
		return l.poison(fmt.Errorf("accept gap: %w", err))
	}
	if err := l.fs.Remove(old); err != nil {
		return l.poison(fmt.Errorf("accept gap: remove %s: %w", old, err))
	}
	if err := vfsutil.SyncDir(l.fs, l.dir); err != nil {
		return l.poison(fmt.Errorf("accept gap: %w", err))
	}
	r.gap = Gap{From: from, To: r.gapTo, Time: time.Unix(0, t).UTC(), Reason: r.gapReason}
	l.opts.Logger.Warn("redolog: recorded a gap", "from", from, "to", r.gapTo, "reason", r.gapReason)
	return nil
}
