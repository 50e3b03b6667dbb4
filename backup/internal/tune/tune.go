// Package tune holds the sizes the backup packages share that tests
// lower: when packs are cut and written, which blobs stay loose, when the
// compression dictionary is trained, and the format of a new repository.
// Only backup's own packages can import it, so these stay out of their
// public API; production code never changes them.
package tune

var (
	// PackChunkRaw seals a chunk once it holds this many raw bytes: 1 MiB
	// of mail compressed together stores ~30% less than each message alone
	// (quoted replies, re-sent attachments, list footers), and reading one
	// blob decodes at most one chunk.
	PackChunkRaw = 1 << 20
	// PackTargetBytes writes a pack once its chunks hold this many stored
	// bytes; a ship writes whatever is pending, so packs may be smaller.
	// Pack maintenance merges packs below half of it.
	PackTargetBytes = 16 << 20
	// PackLooseMin: blobs this large or larger are stored as loose objects.
	PackLooseMin = 1 << 20
	// DictSampleBlobs: a repository trains its zstd dictionary once this
	// many blobs (or 16 MiB) have been sampled.
	DictSampleBlobs = 1000
	// NewFormat, when not 0, is the format InitRepository gives a new
	// unencrypted repository instead of the current one (tests of format 1).
	NewFormat = 0
)
