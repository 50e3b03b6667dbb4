// Package dedup owns content addressing and compression framing of message
// blobs: a blob is named by the SHA-256 of its raw bytes and stored as a
// one-byte codec header followed by the body, raw or zstd.
//
// Digest: SHA-256 (FIPS 180-4) of the raw RFC 5322 message bytes exactly as
// delivered, before any compression; chosen once for the on-disk format, over
// BLAKE3, because it is in the standard library, hardware-accelerated on the
// machines mail servers run on, and what administrators can check with
// sha256sum. Primary volumes and the backup repository both store a blob at
// BlobName(d) = "blobs/<first 2 hex>/<64 hex>", so a digest is also a path.
//
// Framing (every stored blob, on every volume):
//
//	+-------+------------------------------------------------+
//	| codec | body                                           |
//	| 1 B   | CodecRaw (0x00): the raw bytes                 |
//	|       | CodecZstd (0x01): zstd frame(s) (RFC 8878)      |
//	|       | CodecZstdDict (0x02): dictionary id (4 B, LE),  |
//	|       |   then a zstd frame compressed with it          |
//	+-------+------------------------------------------------+
//
// CodecZstdDict is written only where the reader can resolve the
// dictionary (the backup repository stores its dictionaries as objects):
// Decode and NewDecodeReader refuse it with ErrNoDict; DecodeWith takes a
// resolver from id to Dict. TrainDict builds a dictionary for mail from
// sample messages (recurring whole lines as content, entropy tables fitted
// on the samples); a dictionary, like a codec value, is immutable once
// blobs use it.
//
// There is no length or checksum in the frame: the digest of the decoded
// bytes is the checksum, and the volume knows the length. A blob of
// threshold bytes or more is compressed (exactly the threshold is), unless
// zstd does not make it smaller; a negative threshold never compresses.
// Decoding checks the header and the zstd stream and fails with ErrCorrupt
// or ErrUnknownCodec, never a panic. Reference counts are not kept here: the
// engine's metadata projection owns them.
package dedup
