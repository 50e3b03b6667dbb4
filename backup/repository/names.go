package repository

import (
	"fmt"
	"strconv"
	"strings"
)

// Object name prefixes and suffixes of the repository layout (see doc.go).
const (
	ManifestName     = "tidemark-backup.json"
	LogPrefix        = "log/"
	ScanPrefix       = "scan/"
	BlobPrefix       = "blobs/"
	SnapPrefix       = "catalog/"
	QuarantinePrefix = "quarantine/"
	segSuffix        = ".seg.zst"
	scanSuffix       = ".scan.zst"
	snapSuffix       = ".snap.zst"
)

func SegmentName(first, last uint64) string {
	return fmt.Sprintf("%s%020d-%020d%s", LogPrefix, first, last, segSuffix)
}

func ScanName(lsn uint64, unixNano int64) string {
	return fmt.Sprintf("%s%020d-%020d%s", ScanPrefix, lsn, unixNano, scanSuffix)
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

func ParseSegmentName(name string) (first, last uint64, ok bool) {
	first, last, ok = parsePair(name, LogPrefix, segSuffix)
	return first, last, ok && first <= last && first > 0
}

func ParseScanName(name string) (lsn uint64, t int64, ok bool) {
	l, u, ok := parsePair(name, ScanPrefix, scanSuffix)
	return l, int64(u), ok
}
