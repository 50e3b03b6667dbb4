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
//
// A handle appends only to the pack it created: New always starts a new
// pack, after the highest existing one. A pack is rolled (fsynced, then a
// new one created and its directory fsynced) when the next entry would take
// it past Options.PackSize; so every pack but the newest is fully durable.
//
// # Pack header (16 bytes, little endian)
//
//	+--------+---------+---------+---------+
//	| "TMPK" | version | flags   | seq     |
//	| 4 B    | u16 = 1 | u16 = 0 | u64     |
//	+--------+---------+---------+---------+
//
// seq repeats the number in the file name; a pack whose header disagrees
// with its name is corrupt.
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
// tombstone: the name was deleted, dlen is 0. rsvd is 0. Any other value,
// a bad checksum or an entry running past the end of the file is a bad
// entry.
//
// # Index and replacement
//
// New scans every pack in sequence order and builds the in-memory index
// name → (pack, offset, length): a later entry for a name replaces an
// earlier one, a tombstone removes it. Reads go through the index (one
// ReadAt of the whole entry, checksum verified on every read), List sorts
// the index's names and merges the large objects. A name found both in the
// index and among the large files is the pack's: the large file is the
// leftover of a replacement a crash interrupted and New deletes it.
//
// Open cost: New reads every pack whole (about the volume's size in small
// objects at the disk's sequential read rate) and keeps one open file
// handle per pack. An index checkpoint that lets New scan only the bytes
// after it is not written yet.
//
// # Torn tail rule (as the redo log)
//
// A bad entry in the newest pack, with no valid entry at any byte offset
// after it, is the torn tail of writes a crash interrupted: New rewrites
// the pack's valid prefix (vfsutil.WriteFile) and logs a warning. A bad
// entry with a valid one after it, or any bad entry in an older pack, is
// corruption: New fails with an error wrapping ErrCorrupt that names the
// pack and byte offset. A disk that persists unsynced blocks out of order
// can leave a valid entry after a torn one; that is reported, not guessed
// at.
//
// # Durability
//
// Put and Delete append their entry and then fsync the pack; concurrent
// calls share fsyncs (whoever syncs covers every entry written before the
// sync started: group commit). PutDeferred appends without fsync and is
// visible at once; SyncDeferred fsyncs the newest pack (older packs were
// fsynced when rolled) and the large objects' pending writes. A deferred
// entry lost or torn by a crash is absent after New, never wrong: the
// checksum guards it. A failed write or fsync fails the handle: every
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
