// Package cryptvol is a Volume decorator that encrypts and authenticates
// every object it stores, so that storage that is read or rewritten by
// someone else (a shared bucket, a stolen disk, another local user) yields
// neither content nor an object tidemark would accept. The backup
// repository is opened through it; the key objects that unlock it live in
// the same volume (keys.go).
//
// # Object layout (format 1)
//
// An object of P plaintext bytes is split into k = max(1, ceil(P/C))
// chunks of C = 65536 bytes, the last one holding the rest (0 < rest <= C,
// or 0 for the empty object). Each chunk is sealed on its own with
// XChaCha20-Poly1305, so that GetRange opens and decrypts only the chunks
// that cover the range:
//
//	+----------------+-------------------------+-----+---------------------------+
//	| header 8 bytes | chunk 0                 | ... | chunk k-1                 |
//	+----------------+-------------------------+-----+---------------------------+
//	header: "TMCRYPT" 0x01 (magic and format version)
//	chunk i: nonce (24) | ciphertext (C bytes, the last chunk 0..C) | tag (16)
//	nonce:   object id (15, random per Put) | flags (1) | i (8, big endian)
//	flags:   0x01 on the last chunk, 0x00 on every other
//	associated data: header | object name
//
// The ciphertext is therefore 8 + P + 40k bytes, and Stat and List report
// P, computed back from it. The key is HKDF-SHA256 of the repository's
// 32-byte master key (info "tidemark cryptvol data v1").
//
// # What a reader checks
//
// Every chunk must open under the key with the object's name as associated
// data: a flipped byte, an object copied under another name or a chunk
// from another object fails. The index in the nonce must be the chunk's
// position (no reordering), every chunk of one read must carry the same
// object id (no splicing of two versions), and exactly the last chunk must
// carry the last-chunk flag: an object cut at a chunk boundary ends on a
// chunk without it, one cut inside a chunk has a size no layout gives.
// Each failure is reported as ErrCorrupt (matching internal/corrupt), a
// permanent error, and no byte of a chunk is returned before its tag is
// checked. GetRange asks the volume for the chunks covering the range and
// one byte more, without a Stat: a chunk read with nothing after it must
// carry the flag and one with bytes after it must not, so a range that
// reaches the stored end finds a truncation. A range that ends before the
// stored end cannot see a truncation after it, and one that starts past
// chunk 0 does not read the (constant) header; the bytes it returns are
// authentic. Get and GetRange read and check the first chunk before they
// return, so a missing or damaged one is reported by the call itself.
//
// Nonces never repeat under one key: the 120-bit object id is random per
// Put, and a Put retried by hsm.WithRetry after a rewind re-encrypts the
// same bytes under the same nonces, producing identical ciphertext.
//
// Names for which Options.Plain returns true are passed through unchanged
// (the repository manifest and the key objects, which must be readable
// before the key is known). Everything else is sealed.
package cryptvol
