package redolog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	segmentMagic  = "TMRL"
	segmentSuffix = ".log"
	archiveDir    = "archive"
	lockName      = "LOCK"

	// FormatVersion is the segment format this package writes for
	// segments of records.
	FormatVersion = 1
	// gapFormatVersion is written only for gap segments: the version 1
	// layout with flags in use. A binary that knows only version 1 refuses
	// a log with a gap instead of misreading it; logs without one stay
	// version 1.
	gapFormatVersion = 2
	headerSizeV0     = 8
	headerSizeV1     = 24

	// flagGap marks a gap segment (version 2): it holds exactly one gap
	// record and stands for the LSNs that record names.
	flagGap = 1 << 0
)

// segmentName is the file name of the segment whose first LSN is first.
func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
}

// parseSegmentName returns the first LSN encoded in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	if !strings.HasSuffix(name, segmentSuffix) || len(name) != 20+len(segmentSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

// appendHeader appends a current-version segment header for first.
func appendHeader(dst []byte, first uint64) []byte {
	return appendHeaderFlags(dst, first, FormatVersion, 0)
}

// appendHeaderFlags appends a version 1 or 2 segment header.
func appendHeaderFlags(dst []byte, first uint64, version, flags uint16) []byte {
	start := len(dst)
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, version)
	dst = binary.LittleEndian.AppendUint16(dst, flags)
	dst = binary.LittleEndian.AppendUint64(dst, first)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
	return binary.LittleEndian.AppendUint32(dst, 0) // reserved
}

// segHeader is a decoded segment header.
type segHeader struct {
	version uint16
	size    int    // bytes before the first record
	first   uint64 // 0 in version 0, which took it from the file name only
	gap     bool   // a gap segment (version 2, flagGap)
}

// parseHeader decodes the header at the start of b.
func parseHeader(b []byte) (segHeader, error) {
	if len(b) < headerSizeV0 {
		return segHeader{}, errShortHeader
	}
	if string(b[:4]) != segmentMagic {
		return segHeader{}, fmt.Errorf("%w: bad segment magic %q", ErrCorrupt, b[:4])
	}
	switch v := binary.LittleEndian.Uint16(b[4:]); v {
	case 0:
		return segHeader{version: 0, size: headerSizeV0}, nil
	case 1, gapFormatVersion:
		if len(b) < headerSizeV1 {
			return segHeader{}, errShortHeader
		}
		if got, want := crc32.Checksum(b[:16], castagnoli), binary.LittleEndian.Uint32(b[16:]); got != want {
			return segHeader{}, fmt.Errorf("%w: segment header checksum %08x, want %08x", ErrCorrupt, got, want)
		}
		h := segHeader{version: v, size: headerSizeV1, first: binary.LittleEndian.Uint64(b[8:])}
		switch flags := binary.LittleEndian.Uint16(b[6:]); {
		case v == 1 && flags != 0, v == gapFormatVersion && flags != flagGap:
			return segHeader{}, fmt.Errorf("%w: segment format version %d with flags %#x", ErrCorrupt, v, flags)
		}
		h.gap = v == gapFormatVersion
		return h, nil
	default:
		return segHeader{}, fmt.Errorf("%w: unknown segment format version %d", ErrCorrupt, v)
	}
}

var errShortHeader = fmt.Errorf("%w: segment shorter than its header", ErrCorrupt)

// scan is what a full pass over one segment found.
type scan struct {
	hdr      segHeader
	count    uint64 // valid records (a gap record is not counted)
	gap      *Gap   // the gap of a gap segment
	last     uint64 // LSN of the last valid record, first-1 if none
	lastTime int64  // time of the last valid record, 0 if none
	end      int64  // byte offset just after the last valid record
	size     int64  // file size
	// tornErr is set when bytes after end are not a record but no valid
	// record follows them: a torn write, legal only at the log's tail.
	tornErr error
	// err is set for corruption: a bad header, a bad record followed by a
	// valid one, or an LSN out of sequence.
	err error
}

// torn reports whether the segment ends in a torn write.
func (s *scan) torn() bool { return s.tornErr != nil }

// scanSegment checks every record of the segment data, whose file name says
// it starts at first. prevTime is the time of the record before first (0 if
// unknown), used to check that times increase across segments.
func scanSegment(data []byte, name string, first uint64, prevTime int64) scan {
	s := scan{last: first - 1, size: int64(len(data)), lastTime: prevTime}
	hdr, err := parseHeader(data)
	if err != nil {
		if errors.Is(err, errShortHeader) {
			s.tornErr = fmt.Errorf("segment %s offset 0: %w", name, err)
			return s
		}
		s.err = fmt.Errorf("segment %s offset 0: %w", name, err)
		return s
	}
	if hdr.version > 0 && hdr.first != first {
		s.err = fmt.Errorf("%w: segment %s offset 0: header says first lsn %d", ErrCorrupt, name, hdr.first)
		return s
	}
	s.hdr = hdr
	off := hdr.size
	s.end = int64(off)
	if hdr.gap {
		s.scanGap(data, name, first)
		return s
	}
	for off < len(data) {
		r, n, err := DecodeRecord(data[off:])
		if err != nil {
			if validAfter(data[off+1:], s.last) {
				s.err = fmt.Errorf("segment %s offset %d: %w (valid records follow)", name, off, err)
			} else {
				s.tornErr = fmt.Errorf("segment %s offset %d: %w", name, off, err)
			}
			return s
		}
		if r.LSN != s.last+1 {
			s.err = fmt.Errorf("%w: segment %s offset %d: lsn %d, want %d", ErrCorrupt, name, off, r.LSN, s.last+1)
			return s
		}
		if r.Time <= s.lastTime {
			s.err = fmt.Errorf("%w: segment %s offset %d: lsn %d time %d not after %d", ErrCorrupt, name, off, r.LSN, r.Time, s.lastTime)
			return s
		}
		off += n
		s.count++
		s.last = r.LSN
		s.lastTime = r.Time
		s.end = int64(off)
	}
	return s
}

// scanGap checks a gap segment: written whole by AcceptGap, it holds
// exactly one gap record whose LSN is the segment's first; anything else,
// a short one included, is corruption.
func (s *scan) scanGap(data []byte, name string, first uint64) {
	off := s.hdr.size
	r, n, err := DecodeRecord(data[off:])
	if err == nil && off+n != len(data) {
		err = fmt.Errorf("%w: %d bytes after the gap record", ErrCorrupt, len(data)-off-n)
	}
	if err == nil && r.LSN != first {
		err = fmt.Errorf("%w: gap record lsn %d, want %d", ErrCorrupt, r.LSN, first)
	}
	if err == nil && r.Time <= s.lastTime {
		err = fmt.Errorf("%w: gap record time %d not after %d", ErrCorrupt, r.Time, s.lastTime)
	}
	var g Gap
	if err == nil {
		g, err = decodeGap(r)
	}
	if err != nil {
		s.err = fmt.Errorf("gap segment %s offset %d: %w", name, off, err)
		return
	}
	s.gap, s.last, s.lastTime, s.end = &g, g.To, r.Time, int64(len(data))
}

// validAfter reports whether b holds, at any offset, a well-formed record
// with an LSN above last. Finding one after a bad record means the bad record
// is not a torn tail but damage inside data that was once durable.
func validAfter(b []byte, last uint64) bool {
	maxLSN := last + uint64(len(b))/RecordOverhead + 1
	for i := 0; i+RecordOverhead <= len(b); i++ {
		lsn := binary.LittleEndian.Uint64(b[i+8:])
		if lsn <= last || lsn > maxLSN {
			continue
		}
		if _, _, err := DecodeRecord(b[i:]); err == nil {
			return true
		}
	}
	return false
}

// readAll reads a whole file through fs.
func readAll(fs vfs.FS, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// readHeader reads and decodes the header of the segment at path.
func readHeader(fs vfs.FS, path string) (segHeader, error) {
	f, err := fs.Open(path)
	if err != nil {
		return segHeader{}, err
	}
	defer f.Close()
	b := make([]byte, headerSizeV1)
	n, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return segHeader{}, err
	}
	return parseHeader(b[:n])
}
