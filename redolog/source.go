package redolog

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// liveSource reads the index of an open Log.
type liveSource struct{ l *Log }

func (s liveSource) segments() ([]segment, []string, error) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	segs := make([]segment, len(l.segs))
	paths := make([]string, len(l.segs))
	for i, sg := range l.segs {
		segs[i] = sg
		dir := l.dir
		if sg.archived {
			dir = l.archive
		}
		paths[i] = l.fs.PathJoin(dir, segmentName(sg.first))
	}
	return segs, paths, nil
}

func (s liveSource) state(first uint64) (int64, bool, bool, <-chan struct{}, error) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, false, false, nil, ErrClosed
	}
	for _, sg := range l.segs {
		if sg.first == first {
			return sg.end, sg.archived, sg.gap, l.notify, nil
		}
	}
	return 0, false, false, nil, truncatedErr(first, l.segs[0].first)
}

// Segments written by an open log never hold a torn record below their
// durable end.
func (liveSource) tornTailOK(uint64) bool { return false }

// dirSource is a fixed listing of a log directory taken by ReadDir.
type dirSource struct {
	segs  []segment
	paths []string
}

func newDirSource(fs vfs.FS, dir string) (*dirSource, error) {
	archive := fs.PathJoin(dir, archiveDir)
	// List the log directory before archive/: a segment sealed in between
	// then shows up in both listings rather than in neither.
	root, err := listSegments(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("redolog: %w", err)
	}
	arch, err := listSegments(fs, archive)
	if err != nil {
		return nil, fmt.Errorf("redolog: %w", err)
	}
	src := &dirSource{}
	add := func(d string, first uint64) error {
		p := fs.PathJoin(d, segmentName(first))
		st, err := fs.Stat(p)
		if errors.Is(err, os.ErrNotExist) && d != archive {
			// Sealed since it was listed.
			d, p = archive, fs.PathJoin(archive, segmentName(first))
			st, err = fs.Stat(p)
		}
		if err != nil {
			return fmt.Errorf("redolog: %w", err)
		}
		// archived records where the file was; every listed segment is
		// read as sealed, up to the size it had when listed.
		sg := segment{first: first, end: st.Size(), archived: d == archive}
		if d == archive {
			// A gap segment's range is in its record: read it now, so a
			// reader asked to start inside the gap can say so.
			g, isGap, err := readGapAt(fs, p, first)
			if err != nil {
				return err
			}
			if isGap {
				sg.gap, sg.last = true, g.To
			}
		}
		src.segs = append(src.segs, sg)
		src.paths = append(src.paths, p)
		return nil
	}
	for _, f := range arch {
		if err := add(archive, f); err != nil {
			return nil, err
		}
	}
	for _, f := range root {
		if n := len(src.segs); n > 0 && src.segs[n-1].first >= f {
			continue // listed in both: the archived copy wins
		}
		if err := add(dir, f); err != nil {
			return nil, err
		}
	}
	return src, nil
}

func (s *dirSource) segments() ([]segment, []string, error) { return s.segs, s.paths, nil }

func (s *dirSource) state(first uint64) (int64, bool, bool, <-chan struct{}, error) {
	for _, sg := range s.segs {
		if sg.first == first {
			// A listed gap segment is opened as one (openSegment).
			return sg.end, true, false, nil, nil
		}
	}
	return 0, false, false, nil, fmt.Errorf("redolog: segment %d not listed", first)
}

func (s *dirSource) tornTailOK(first uint64) bool {
	return len(s.segs) > 0 && s.segs[len(s.segs)-1].first == first
}

// readGapAt returns the gap of the segment at path if it is a gap
// segment. A header that cannot be read is left for the reader to report.
func readGapAt(fs vfs.FS, path string, first uint64) (Gap, bool, error) {
	f, err := fs.Open(path)
	if err != nil {
		return Gap{}, false, fmt.Errorf("redolog: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, headerSizeV1)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && err != io.EOF {
		return Gap{}, false, fmt.Errorf("redolog: read %s: %w", path, err)
	}
	h, err := parseHeader(hdr[:n])
	if err != nil || !h.gap {
		return Gap{}, false, nil
	}
	g, err := readGap(f, path, h, first)
	if errors.Is(err, ErrCorrupt) {
		return Gap{}, false, nil // the reader or Verify reports it
	}
	return g, err == nil, err
}
