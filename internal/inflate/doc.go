// Package inflate is Go's compress/flate decompressor with one change for
// streams that are read as they arrive (IMAP COMPRESS=DEFLATE, RFC 4978):
// the output of every block is made readable as soon as the block ends.
// The standard decompressor keeps a block's output in its window until a
// stored block, a full window or the end of the stream, so data a client
// flushed with zlib's Z_PARTIAL_FLUSH (an empty fixed-code block, which
// isync/mbsync sends) never comes out while the client waits for an
// answer. inflate.go and dict_decoder.go are copied from Go 1.26's
// compress/flate (BSD licence, see their headers); the change is in
// finishBlock, marked "tidemark:".
package inflate

const (
	endBlockMarker = 256     // from compress/flate's huffman_bit_writer.go
	maxMatchOffset = 1 << 15 // from compress/flate's deflate.go
)
