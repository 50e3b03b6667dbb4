package packvol

// Exported names of the on-disk format, for `tidemark version`; the
// layout is in doc.go and format.go.
const (
	// PackMagic opens every pack file this package writes.
	PackMagic = packMagic
	// PackVersion is the pack format version written.
	PackVersion = packVersion
)
