package backup

import (
	"fmt"
	"strconv"
	"strings"
)

// Object name prefixes and suffixes of the repository layout (see doc.go).
const (
	manifestName     = "tidemark-backup.json"
	logPrefix        = "log/"
	scanPrefix       = "scan/"
	blobPrefix       = "blobs/"
	snapPrefix       = "catalog/"
	quarantinePrefix = "quarantine/"
	segSuffix        = ".seg.zst"
	scanSuffix       = ".scan.zst"
	snapSuffix       = ".snap.zst"
)

func segmentName(first, last uint64) string {
	return fmt.Sprintf("%s%020d-%020d%s", logPrefix, first, last, segSuffix)
}

func scanName(lsn uint64, unixNano int64) string {
	return fmt.Sprintf("%s%020d-%020d%s", scanPrefix, lsn, unixNano, scanSuffix)
}

// parsePair parses "<prefix><020d>-<020d><suffix>".
func parsePair(name, prefix, suffix string) (a, b uint64, ok bool) {
	s, found := strings.CutPrefix(name, prefix)
	if !found {
		return 0, 0, false
	}
	if s, found = strings.CutSuffix(s, suffix); !found || len(s) != 41 || s[20] != '-' {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(s[:20], 10, 64)
	y, err2 := strconv.ParseUint(s[21:], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return x, y, true
}

func parseSegmentName(name string) (first, last uint64, ok bool) {
	first, last, ok = parsePair(name, logPrefix, segSuffix)
	return first, last, ok && first <= last && first > 0
}

func parseScanName(name string) (lsn uint64, t int64, ok bool) {
	l, u, ok := parsePair(name, scanPrefix, scanSuffix)
	return l, int64(u), ok
}
