package redolog

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// VerifyReport is what Verify found in a log directory.
type VerifyReport struct {
	Segments int    // segment files checked
	Records  uint64 // valid records (gap records not counted)
	FirstLSN uint64 // oldest record or gap, 0 if none
	LastLSN  uint64 // newest valid record, or the end of a gap after it; 0 if none
	// Gaps lists the recorded gaps (AcceptGap), oldest first. A gap is
	// not corruption: its LSNs were given out, their records were lost, and
	// the log was told to go on without them.
	Gaps []Gap
	// TornTail describes a torn write at the end of the active segment, if
	// any. It is not corruption: the next Open truncates it.
	TornTail string
	// Problems lists every corruption found; empty means the log is sound.
	Problems []string
}

// Verify reads every record of every segment in dir, archived and active,
// without taking the log's lock, and checks checksums, headers, and that
// LSNs are dense and times increase across the whole log. It returns an
// error wrapping ErrCorrupt if it found any problem, with the report filled
// in either way. Each segment is read into memory whole.
func Verify(fs vfs.FS, dir string) (VerifyReport, error) {
	var rep VerifyReport
	src, err := newDirSource(fs, dir)
	if err != nil {
		return rep, err
	}
	var prevLast uint64
	var prevTime int64
	for i, sg := range src.segs {
		path := src.paths[i]
		rep.Segments++
		data, err := readAll(fs, path)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("read %s: %v", path, err))
			continue
		}
		if i > 0 && sg.first != prevLast+1 {
			rep.Problems = append(rep.Problems,
				fmt.Sprintf("segment %s starts at lsn %d, want %d", path, sg.first, prevLast+1))
			prevTime = 0
		}
		s := scanSegment(data, path, sg.first, prevTime)
		if s.gap != nil {
			rep.Gaps = append(rep.Gaps, *s.gap)
		}
		if s.count > 0 || s.gap != nil {
			if rep.FirstLSN == 0 {
				rep.FirstLSN = sg.first
			}
			rep.LastLSN = s.last
		}
		rep.Records += s.count
		prevLast, prevTime = s.last, s.lastTime
		switch {
		case s.err != nil:
			rep.Problems = append(rep.Problems, s.err.Error())
			// Resume after the damage as if the next segment were sound.
			prevLast = 0
		case s.torn() && i == len(src.segs)-1 && !isArchived(fs, dir, path):
			rep.TornTail = s.tornErr.Error()
		case s.torn():
			rep.Problems = append(rep.Problems, s.tornErr.Error())
		case s.gap != nil && !isArchived(fs, dir, path):
			rep.Problems = append(rep.Problems, fmt.Sprintf("gap segment %s outside archive/", path))
		case s.count == 0 && s.gap == nil && isArchived(fs, dir, path):
			rep.Problems = append(rep.Problems, fmt.Sprintf("archived segment %s holds no record", path))
		}
		if prevLast == 0 && i+1 < len(src.segs) {
			prevLast = src.segs[i+1].first - 1
		}
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("%w: %s: %d problem(s), first: %s", ErrCorrupt, dir, len(rep.Problems), rep.Problems[0])
	}
	return rep, nil
}

func isArchived(fs vfs.FS, dir, path string) bool {
	return fs.PathDir(path) == fs.PathJoin(dir, archiveDir)
}
