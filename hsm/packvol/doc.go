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
//	<dir>/index.ckpt               index checkpoint: the index's bulk (below)
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
// The index maps each packed name to its newest entry (pack, offset,
// length): a later entry for a name replaces an earlier one, a tombstone
// removes it. Reads go through the index (one ReadAt of the whole entry,
// checksum verified on every read), List merges the index's names under
// the prefix with the large objects. A name found both in the index and
// among the large files is the pack's: the large file is the leftover of a
// replacement a crash interrupted and New deletes it.
//
// The bulk of the index lives on disk, in the checkpoint file (next
// section), read through the page cache with ReadAt (never mapped: mapped
// pages count in the process's resident memory). In memory are only the
// changes since that file was written (the delta: puts, replacements,
// removals, compaction moves; a removal is recorded as such, hiding the
// file's record), the file's fence (the first digest of each 4 KiB block
// of blob records, 32 bytes per 78 objects) and the names that are not
// message blobs. A lookup reads the delta, then the file: a binary search
// of the fence and one ReadAt of one block. A record of a pack that is
// gone (Compact removed it) is absent.
//
// Memory: about 0.4 bytes per message blob in the file, about 58 per
// entry of the delta (index.go) and about 140 per other short name. The
// delta is merged into a new file in the background once it holds
// Options.IndexDelta changes (default 65,536) or an eighth of the file's
// records, whichever is more, and at Checkpoint and Close; during a merge
// it is frozen and a new delta takes the writes, so at most about two
// thresholds' worth are held. BenchmarkIndexMemory measures it
// (docs/BENCHMARKS.md, "Pack index memory"). What it costs: a lookup of a
// name not in the delta is a pread of 4 KiB (from the page cache when
// warm), a put or delete looks its old place up the same way (to keep the
// live bytes), and every merge rewrites the whole file.
//
// # Index checkpoint (index.ckpt, little endian), version 2
//
//	+--------+---------+-------------+----------+-----------+
//	| "TMCK" | rsvd u32| version u16 | rsvd u16 | block u32 |   header, 16 B
//	|        | = 0     | = 2         | = 0      | = 4096    |
//	+--------+---------+-------------+----------+-----------+
//	npacks × | seq u64 | covered u64 | live u64 |               ascending seq
//	nnames × | nlen u16 | seq u64 | off u64 | n u32 | mtime i64 | size u32 | name |
//	zeros up to blobsOff, the next multiple of 4096
//	nblocks × 4096-byte block:
//	    up to 78 × | digest [32]u8 | seq u32 | off u32 | n u32 | mtime i64 |
//	    zeros, then crc32c u32 of the block's first 4092 bytes
//	+------------+-------------+------------+------------+--------------+--------+------------+
//	| npacks u32 | headcrc u32 | nnames u64 | nblobs u64 | blobsOff u64 | "TMCK" | crc32c u32 |
//	+------------+-------------+------------+------------+--------------+--------+------------+
//	                                                                         footer, 40 B
//
// Blob records (message blobs: names of the dedup.BlobName shape, whose
// name is rebuilt from the digest and whose object size is n - 93) are
// sorted by digest across the blocks, 78 to a block, every block but the
// last full: nblocks = ceil(nblobs/78). Name records (any other name, and
// a blob whose place needs 64-bit fields; a name is in one section only)
// are sorted by name bytes. headcrc covers the bytes before blobsOff, the
// last crc32c every byte before it. For each pack, covered is how many of
// its first bytes the checkpoint reflects, all of them fsynced before the
// file was written, and live its live bytes (as Stats counts them) within
// them; every record lies inside covered bytes of a listed pack.
//
// Checkpoint, Close and the background merge fsync the newest pack if
// bytes were appended since the last fsync, freeze the delta (under the
// writer lock: the frozen delta is exactly the changes within the covered
// bytes) and stream the merge of the old file and the frozen delta
// through a buffered writer into a temp file: fsync, rename over
// index.ckpt, directory fsync (vfsutil.WriteFrom). Then, under the index
// lock, the new file replaces the old and the frozen delta is dropped;
// lookups meanwhile read delta, frozen delta, old file. Memory during the
// merge: the read and write buffers (320 KiB), the new fence and a copy
// of the other names' map (about 2 bytes per message blob allocated in
// all, BenchmarkIndexMemory). A crash at any point leaves the old file
// or the new one, each consistent with the durable packs. When nothing
// changed (no delta, same pack sizes) nothing is written.
//
// New with a valid checkpoint opens it for lookups (version 1, below, is
// read whole into the delta instead; the next merge replaces it by version
// 2), reads every byte of it once to verify the checksums, the digest
// order and each record against the pack records, and builds the fence.
// Records of a pack no longer there (Compact removed it after the
// checkpoint, having first copied its live entries into a newer pack) are
// absent; so that none can come back, a new pack is numbered past every
// pack the checkpoint names. New then scans only the bytes after covered
// of each pack plus packs the checkpoint does not name, in sequence order,
// so later puts and tombstones win; the newest pack's tail is judged by
// the torn tail rule below (sync marks before covered claim at most
// covered, so they cannot change the verdict). Covered bytes of packs are
// not read again: damage inside them surfaces on read, by the entry
// checksum. Damage to the checkpoint found after New (a block whose crc
// fails when read) fails that read with an error wrapping ErrCorrupt, and
// a put or delete that needed the block fails the handle; the next New
// finds the damage by the checksums. A missing checkpoint, a bad
// checksum, an unknown version, or one that does not fit the packs (a
// pack shorter than covered, an older pack grown past covered, an
// unnamed pack older than a named one) means the full scan, with a
// warning.
//
// Version 1 (written before version 2; read only):
//
//	+--------+----------+-------------+---------+------------+------------+
//	| "TMCK" | crc32c   | version u16 | rsvd u16| npacks u32 | nnames u64 |
//	| 4 B    | u32      | = 1         | = 0     |            |            |
//	+--------+----------+-------------+---------+------------+------------+
//	npacks × | seq u64 | covered u64 | live u64 |
//	nnames × | nlen u16 | seq u64 | off u64 | n u32 | mtime i64 | size u32 | name |
//
// with crc32c covering every byte after it, and the same meaning.
//
// Open cost: one sequential read of the checkpoint (52 bytes per message
// blob, plus the name records) and the pack bytes written after it;
// without one, every pack whole. BenchmarkOpen measures both
// (docs/BENCHMARKS.md). New keeps one open file handle per pack and one
// for the checkpoint.
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
