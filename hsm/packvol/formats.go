package packvol

// Exported names of the on-disk format, for `tidemark version`; the
// layout is in doc.go and format.go.
const (
	// PackMagic opens every pack file this package writes.
	PackMagic = packMagic
	// PackVersion is the pack format version written.
	PackVersion = packVersion
	// CheckpointVersion is the index checkpoint (index.ckpt) version
	// written; version 1 files are still read.
	CheckpointVersion = ckptVersion2
)
