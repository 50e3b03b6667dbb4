// Package redolog is tidemark's redo log: a segmented, CRC-framed,
// append-only log of opaque payloads that every mailbox mutation goes through
// before it is acknowledged. It assigns dense LSNs and commit times, group-
// commits concurrent appends into one write and one fsync, rolls segments
// over into archive/, and serves ordered and tailing readers; it knows
// nothing of mail.
//
// # Directory
//
//	<dir>/LOCK                         held by the one open Log
//	<dir>/<first LSN, %020d>.log       the active segment
//	<dir>/archive/<first LSN>.log      sealed segments, oldest first
//
// A segment is named by the LSN of its first record (for an empty active
// segment: the LSN its first record will get). LSNs start at 1, are dense
// across segments and are never reused. Sealed segments only ever hold whole,
// valid records.
//
// # Segment header (format version 1, 24 bytes, little endian)
//
//	+--------+---------+---------+------------+-----------+----------+
//	| "TMRL" | version | flags   | first LSN  | crc32c    | reserved |
//	| 4 B    | u16 = 1 | u16 = 0 | u64        | u32 of 0-15 | u32 = 0 |
//	+--------+---------+---------+------------+-----------+----------+
//
// Format version 2 has the same layout with flags = 1 (gap) and is
// written only for gap segments (below), so a log without a gap stays
// version 1 and readable by builds that know only version 1, and such a
// build refuses a log with a gap ("unknown segment format version 2")
// rather than misreading it. testdata/gap is one.
//
// Format version 0, the first layout, had an 8-byte header: "TMRL", u16
// version = 0, u16 reserved; the first LSN came from the file name only.
// Its records are framed as below. Version 0 segments are still read
// (testdata/v0 is one); versions 1 and 2 are written.
//
// # Record framing (little endian)
//
//	+------------+------------+---------+-----------+---------+---------+
//	| length u32 | crc32c u32 | lsn u64 | time i64  | type u16| payload |
//	+------------+------------+---------+-----------+---------+---------+
//	 <---------------------- 26 + len(payload) bytes ------------------->
//
// length counts the bytes after the crc field: 18 + len(payload). crc32c is
// CRC-32C (Castagnoli) over the length field and everything after the crc
// field, so no bit of the record escapes it. time is the commit time in unix
// nanoseconds UTC, strictly increasing with LSN: the clock's reading, or the
// time an Entry carries (a restore replaying a backup), raised to the
// previous record's time + 1 ns when it would not increase. type and payload are the
// caller's; payloads carry their own version (see engine/event). A length
// outside [18, 18+MaxPayload] is corruption. AppendRecord and DecodeRecord
// expose this framing so the backup repository stores records identically.
//
// # Durability
//
// Append and AppendBatch return only after the batch holding the record has
// been written and fsynced (File.SyncData) — with either sync policy. Readers
// never see a record before it is durable: they read a segment only up to
// the end of the last synced batch. A write or fsync error poisons the Log:
// that batch fails and every later append fails with ErrFailed, with no retry
// of fsync, because after a failed fsync the kernel may have dropped the
// dirty pages. The records of the failed batch may or may not be found after
// reopening. Segment creation, sealing (rename into archive/) and truncation
// fsync the directories they change.
//
// # Torn tail rule
//
// On Open, every segment in <dir> (normally just the active one) is checked
// record by record. If a record at the end of the newest segment is short or
// fails its checksum, and no valid record with a higher LSN can be found at
// any byte offset after it, it is a torn write of an unacknowledged batch:
// the segment is cut back to its last valid record and the cut is logged at
// warning level. A bad record with a valid record after it, a bad record in
// an archived segment, or an LSN out of sequence is corruption: Open fails
// with an error wrapping ErrCorrupt that names the segment file and the byte
// offset. Open then seals every previous segment that holds records and
// starts a new active segment, so a log is only ever appended to by the
// handle that created its active segment.
//
// A disk that persists the blocks of one unsynced write out of order can
// leave a valid record after a torn one; that is reported as corruption
// rather than guessed at, and Verify shows where.
//
// # Gaps
//
// A gap is a range of LSNs the log gave out but no longer holds: the torn
// tail rule cut records that had been acknowledged (a damaged byte in the
// last record makes it look torn) and the caller, which knows their
// effects are kept elsewhere (the engine's projection applied them), told
// the log to go on without them (AcceptGap). The gap is a segment of its
// own in archive/, named by the first missing LSN, version 2 header with
// the gap flag, holding exactly one gap record:
//
//	record  lsn = first missing LSN, time = when the gap was recorded,
//	        type = TypeGap (0xFFFF, reserved: Append refuses it)
//	payload version u8 = 1 | last missing LSN u64 | uvarint n | reason (n bytes, UTF-8, n <= 4096)
//
// The next record gets the last missing LSN + 1, so LSNs stay unique and
// every LSN is either a record or inside a recorded gap. AcceptGap writes
// the gap segment durably into archive/ before it drops the empty active
// segment of the same name and starts the next one: a crash leaves the
// whole gap or none of it (recovery prefers the archived copy, as for a
// seal). A gap segment that is not exactly one valid gap record is
// corruption. Readers never return a gap record: Next returns a *GapError
// (wrapping ErrGap) with the range, reason and time, and goes on after the
// gap when called again; NewReader, Tail and ReadDir asked to start inside
// a gap fail with one. Verify lists gaps in VerifyReport.Gaps; they are not
// corruption.
package redolog
