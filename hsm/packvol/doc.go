// Package packvol is an hsm.Volume in a local directory that packs small
// objects into append-only pack files, so that storing a message costs one
// append to an open file instead of creating one file per message (which
// bounds delivery on ext4: docs/BENCHMARKS.md, "## engine"). Objects larger
// than Options.SmallMax are stored one file each by an embedded
// hsm/localvol volume. All I/O goes through an injected pebble vfs.FS, so
// the crash harness (vfs.NewCrashableMem) covers it.
//
// # Directory
//
//	<dir>/packs/<seq %012d>.pack   pack files, numbered from 1, never reused
//	<dir>/large/...                objects above SmallMax, localvol layout
//	<dir>/index.ckpt               index checkpoint (optional, see below)
//
// A handle appends only to the pack it created: New always starts a new
// pack, after the highest existing one. A pack is rolled (fsynced, then a
// new one created and its directory fsynced) when the next entry would take
// it past Options.PackSize; so every pack but the newest is fully durable.
//
// # Pack header (16 bytes, little endian)
//
//	+--------+---------+---------+---------+
//	| "TMPV" | version | flags   | seq     |
//	| 4 B    | u16 = 2 | u16 = 0 | u64     |
//	+--------+---------+---------+---------+
//
// seq repeats the number in the file name; a pack whose header disagrees
// with its name is corrupt. Version 2 packs may hold sync marks; version 1
// packs (written before sync marks existed) are still read, under the
// torn tail rule they were written with. New packs are always version 2.
// Packs written before this format had a magic of its own carry "TMPK"
// (which backup repository packs used too) with version 1 or 2 and are
// read as before; "TMPV" goes only with version 2. testdata/v1 and
// testdata/v2 are frozen volumes of both versions under "TMPK", opened by
// TestFixtures.
//
// # Entry (little endian), appended one after another after the header
//
//	+------------+---------+----------+----------+----------+----------+----------+
//	| crc32c u32 | kind u8 | rsvd u8  | nlen u16 | dlen u32 | time i64 | name | data |
//	+------------+---------+----------+----------+----------+----------+----------+
//	 <----------------- 20-byte header ------------------------------>
//
// crc32c is CRC-32C (Castagnoli) over header bytes 4..19, the name and the
// data, so no bit of an entry escapes it. kind 1 is a put: name holds the
// object name (valid per hsm.CheckName, 1..65535 bytes), data its bytes,
// time its modification time (unix ns, from Options.Now). kind 2 is a
// tombstone: the name was deleted, dlen is 0. kind 3 is a sync mark (next
// section). rsvd is 0. Any other value, a bad checksum or an entry running
// past the end of the file is a bad entry.
//
// # Sync mark (kind 3, 36 bytes)
//
//	+------------+-----+-----+---------+----------+----------+---------+------------+
//	| crc32c u32 | 3   | 0   | nlen=0  | dlen=16  | time i64 | seq u64 | synced u64 |
//	+------------+-----+-----+---------+----------+----------+---------+------------+
//
// After an fsync of the newest pack covered its first synced bytes, the
// next append to that pack (or Close, if none comes) first writes a sync
// mark recording synced; time is when the mark was written. A mark is
// valid only with seq equal to its pack's and 16 <= synced <= its own
// offset. The index ignores marks, Compact drops them, Stats counts them
// as dead bytes. A mark in a version 1 pack is a bad entry. Cost: one
// mark per fsync that an append follows, written in the same WriteAt as
// that entry.
//
// # Index and replacement
//
// New scans the packs in sequence order and builds the in-memory index
// name → (pack, offset, length): a later entry for a name replaces an
// earlier one, a tombstone removes it. Reads go through the index (one
// ReadAt of the whole entry, checksum verified on every read), List sorts
// the index's names and merges the large objects. A name found both in the
// index and among the large files is the pack's: the large file is the
// leftover of a replacement a crash interrupted and New deletes it. The
// index is the memory that grows with the data: about 58 bytes per
// message blob (names of the dedup.BlobName shape, keyed by digest) and
// about 140 per other short name (index.go).
//
// # Index checkpoint (index.ckpt, little endian)
//
//	+--------+----------+-------------+---------+------------+------------+
//	| "TMCK" | crc32c   | version u16 | rsvd u16| npacks u32 | nnames u64 |
//	| 4 B    | u32      | = 1         | = 0     |            |            |
//	+--------+----------+-------------+---------+------------+------------+
//	npacks × | seq u64 | covered u64 | live u64 |
//	nnames × | nlen u16 | seq u64 | off u64 | n u32 | mtime i64 | size u32 | name |
//
// crc32c (Castagnoli) covers every byte after it. For each pack, covered
// is how many of its first bytes the checkpoint reflects, all of them
// fsynced before the file was written, and live its live bytes (as Stats
// counts them) within them; each name record is an index entry (pack seq,
// entry offset and length, object size and mtime) inside covered bytes.
// Checkpoint (callable at any time, e.g. after SyncDeferred) and Close
// fsync the newest pack if bytes were appended since the last fsync, copy
// the index under the writer lock and write the file with
// vfsutil.WriteFile (temp, fsync, rename, directory fsync).
//
// New with a valid checkpoint loads its index, dropping entries whose
// pack no longer exists (Compact removed it after the checkpoint, having
// first copied its live entries into a newer pack), and scans only the
// bytes after covered of each pack plus packs the checkpoint does not
// name, in sequence order, so later puts and tombstones win; the newest
// pack's tail is judged by the torn tail rule below (sync marks before
// covered claim at most covered, so they cannot change the verdict).
// Covered bytes are not read again: damage inside them surfaces on read,
// by the entry checksum. A missing checkpoint, a bad checksum, an unknown
// version, or one that does not fit the packs (a pack shorter than
// covered, an older pack grown past covered, an unnamed pack older than
// a named one) means the full scan, with a warning.
//
// Open cost: about the checkpoint's size (some 40 bytes plus the name per
// object) and the bytes written after it; without one, every pack whole.
// 50,000 objects of 4 KB (200 MB of packs, warm page cache): 22 ms from
// the checkpoint, 303 ms by the full scan (BenchmarkOpen). New keeps one
// open file handle per pack.
//
// # Torn tail rule
//
// Every pack but the newest was fsynced whole when rolled: any bad entry
// in one is corruption. In the newest, the first bad entry at offset X is
// judged by what lies after it (every byte offset past X is tried, so a
// valid entry or mark is found wherever it starts):
//
//   - version 2: if a valid sync mark after X claims synced > X, the bad
//     entry lies in bytes an fsync made durable: corruption. Otherwise no
//     fsync ever covered X (a mark before X claims at most its own
//     offset): the bytes from X on were written without fsync and a crash
//     tore them, so they are cut off even when valid-looking entries
//     follow (a file system may persist unsynced blocks out of order,
//     leaving a hole of zeros before later blocks). Unsynced entries are
//     only promised to be absent or whole, so dropping them is allowed.
//   - version 1, or a bad header (written and fsynced before any entry):
//     torn only if no valid entry follows, else corruption.
//
// A torn tail is cut by rewriting the pack's valid prefix
// (vfsutil.WriteFile), with a warning naming the pack, the offset and the
// bytes dropped. Corruption fails New with an error wrapping ErrCorrupt
// that names the pack and byte offset.
//
// What the marks cannot see: bytes an fsync covered that no mark records
// yet (neither an append nor Close followed that fsync before the crash).
// Damage there, with valid entries after it, reads as a torn tail and the
// pack is cut there. That takes a media fault on top of a crash.
//
// # Durability
//
// Put and Delete append their entry and then fsync the pack; concurrent
// calls share fsyncs (whoever syncs covers every entry written before the
// sync started: group commit). PutDeferred appends without fsync and is
// visible at once; SyncDeferred fsyncs the newest pack (older packs were
// fsynced when rolled) and the large objects' pending writes. A deferred
// entry lost or torn by a crash is absent after New, never wrong: the
// checksum guards it. Close fsyncs the newest pack before writing the
// index checkpoint. A failed write or fsync fails the handle: every
// later write returns ErrFailed (after a failed fsync the kernel may have
// dropped the pages, so retrying it proves nothing); reopen to recover.
//
// # Space reclaim
//
// Replaced and deleted objects leave dead bytes in their packs. Compact
// rewrites the live entries of every pack (but the newest) whose dead
// fraction reaches its argument into the newest pack, fsyncs it, and only
// then removes the old pack and fsyncs the directory; a crash at any point
// leaves each object in the old pack, the new one or both (identical).
// Tombstones are carried forward while their name stays deleted, and
// dropped when they sit in the oldest pack (nothing older can hold the name).
package packvol
