package redolog

// Exported names of the on-disk format, for `tidemark version` and tools
// that identify files; the layout itself is in doc.go and segment.go.
const (
	// SegmentMagic opens every segment file.
	SegmentMagic = segmentMagic
	// GapFormatVersion is the newest segment version this package reads
	// (a gap segment); record segments are FormatVersion.
	GapFormatVersion = gapFormatVersion
)
