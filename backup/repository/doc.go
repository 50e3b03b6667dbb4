// Package repository is the backup repository format, the lowest layer of
// tidemark's backup: the objects a repository holds and how they are
// written, read, listed, packed, compressed and encrypted, the owner
// record that binds a repository to one server history, and the export
// writer that builds a new repository from records. It knows nothing of
// the catalog, the scanner or the server; those are built on it.
//
// # Repository layout
//
// A repository is a directory or an S3 prefix. Every object is written whole
// under its final name and never modified (except owner.json, replaced
// whole by each claim); the only removals are compaction
// and pack merges (a superseded segment or pack is deleted
// scanner.Options.SupersededGrace, default 10 minutes, after what replaces it is
// durable, so a copy that listed the repository before the merge still
// finds every range and blob), purge (what retention allows; the packs it
// rewrites and the loose blobs it drops also wait out the grace period)
// and verify --fix (which moves, never deletes).
//
//	tidemark-backup.json                 {"format":2,"id":"…","created":"…"}
//	owner.json                           {"server":"…","epoch":N,"claimed":"…","how":"…","previous":[…]}
//	log/<first>-<last>.seg.zst           redo records first..last (020d LSNs)
//	scan/<lsn>-<unixns>.scan.zst         SmartScan corrections, applied after record <lsn>
//	packs/<2 hex>/<32 hex>.pack          small blobs compressed together (format 2; pack.go)
//	blobs/<2 hex>/<64 hex>               one compressed message per digest (dedup framing)
//	dict/<8 hex>.zdict                   zstd dictionary <id> for blobs (dedup.CodecZstdDict)
//	catalog/<lsn>.snap.zst               catalog state at <lsn> + server configuration
//	quarantine/<original name>           objects verify --fix moved aside
//
// # Owner
//
// owner.json binds the repository to one server history: the id of the
// server that owns it (kept in that server's data directory,
// server-identity.json) and the epoch of its claim, which every claim
// raises by one; previous owners are listed newest first. A repository
// without it (new, or written before owner records) is claimed by the
// first server whose redo log continues its history. The scanner ships
// only for the owner at the epoch its data directory holds and whose log
// continues the repository's history (it reaches the repository's end
// and holds a record with the time of the newest segment's last record);
// it reads owner.json before every segment and scan object and stops when
// another server claimed the repository. Readers (restore, verify) ignore
// it. See owner.go.
//
// # Packs (format 2)
//
// A repository of format 2 (every new one) stores blobs under 1 MiB in
// pack objects, layout in pack.go: the scanner appends the raw blobs of a
// batch to 1 MiB chunks, each compressed alone with zstd (plain, no
// dictionary: within 1 MiB of mail the window finds what messages share,
// ~30% less than per-message compression), and writes a pack once its
// chunks reach 16 MiB or when the batch ships, whichever comes first. The
// pack ends with its index (digest → chunk, offset, length; chunk offsets,
// lengths and crc32c), so the repository stays self-describing: catalog.Rebuild,
// status and readers list packs/ and read each trailer with one ranged
// read; ReadBlob reads one chunk with one ranged read and keeps the last
// 16 decoded chunks. A pack is stored with a durable Put before the
// segment or scan object that references its blobs (so a copy holding a
// segment holds its packs, if taken in name order or after the fact); a
// pack written just before a crash whose segment never shipped leaves its
// blobs unreferenced duplicates: the records are processed again and the
// blobs packed again. When several packs hold a blob the pack holding the
// most blobs is read (then the smallest name), so a merged pack wins over
// the packs it merged; a loose object of the same digest wins over any
// pack (verify --fix stores a blob fetched again from the mail store
// loose). Blobs of 1 MiB and more stay loose objects.
//
// Maintenance merges small packs (package backup/scanner, packmerge.go): packs under 8 MiB born
// in one window of a compaction level that has passed (30 s, 5 min, 1 h)
// are rewritten as one pack, and packs past every level once together
// they reach 16 MiB; a quiet server shipping a message a second keeps a
// few dozen live packs instead of ~86,000 a day. The merged pack is
// stored (durable Put, index included) before its sources are marked
// superseded; they are deleted after the grace period. A pack is
// superseded when readers need it for no blob (every blob it holds is
// read from another pack or loose), which the repository alone decides,
// so a merge cut short by a crash is finished by the next pass, and a
// catalog rebuild, status and verify count each blob once (verify reports
// no pack as an orphan while one of its blobs is referenced).
//
// Purge marks a pack all of whose blobs are dead for deletion and
// rewrites one whose dead share reaches 25% (live blobs into a new pack,
// durable, then the old pack is marked). Marked objects are recorded in
// the catalog with the time they may go (maint.PurgeOptions.Grace, default 10
// minutes; package backup/catalog, grace.go) and deleted by the scanner's maintenance or the
// next purge once due, so a copy taken while purge runs is restorable;
// a loose blob stored again meanwhile is kept. The segments, scans and
// older snapshots purge folds into its snapshot wait the same way (and go
// before the packs and blobs they name); until then readers see the new
// snapshot beside the segments it covers and take the snapshot plus the
// segments after it, while a whole-server restore still finds LSN 1 during the grace period.
//
// The schedule lives only in the local catalog. A catalog rebuilt from
// the repository (catalog.Rebuild, rebuild-catalog) starts with none: packs
// holding only dead blobs and loose blobs purge had scheduled stay until removed by hand, verify
// reports them as orphans (--fix moves them to quarantine/), and a pack
// purge rewrote is read in place of its rewrite (it holds more blobs):
// pack maintenance then takes the rewrite for the superseded copy and
// deletes it, keeping the original with its dead blobs (nothing is lost;
// the space is not reclaimed). Rebuild does not schedule them
// itself: the repository cannot tell a blob purge dropped from one
// stored just before a crash or put there by hand. Folded segments and
// snapshots are scheduled again by the next purge.
//
// testdata/ holds frozen repositories of formats 1 and 2, written
// by earlier builds, that TestRepositoryFixtures opens and reads whole.
//
// Verify checks each pack's index, with --read-data its header and every chunk's crc32c,
// decoding and blob digests; --fix stores the intact blobs of a damaged
// pack in a new pack, moves the damaged one to quarantine/ and fetches the
// rest again. A format 1 repository keeps storing loose blobs (so older
// binaries still read it); the export writer writes format 2.
//
// # Blobs and dictionaries
//
// A loose blob is framed by package dedup: CodecZstd (0x01) for the first blobs
// a repository receives, then CodecZstdDict (0x02, followed by the 4-byte
// dictionary id) once the repository has trained a zstd dictionary for
// mail from those first blobs (1,000 blobs or 16 MiB, recurring lines of
// up to 256 KiB as content; dedup.TrainDict) and compresses at zstd's
// "better" level (the scanner writes in the background; on the realistic
// corpus this level saves ~6% over the default for similar CPU in the
// scanner, where file creation dominates). The dictionary is stored,
// durably, as dict/<id as 8 hex>.zdict (a standard zstd dictionary, so
// `zstd -D` decodes a blob body after its 5-byte header) before any blob
// uses it; it is never modified and never deleted, not by purge, and not
// moved by verify --fix. Readers (Repository.ReadBlob, restore, verify
// --read-data) fetch dictionaries by the id in the blob header; a blob
// whose dictionary is gone fails with ErrNoDictionary, and verify reports
// it as missing-dict. Repositories written before dictionaries existed
// read unchanged.
//
// Blobs are shipped without an fsync each where the volume defers them
// (hsm.DeferredSyncer, the local directory): the scanner makes the
// batch's blobs durable with one SyncDeferred before it stores the segment
// or scan object that references them, so a shipped segment never names a
// blob a crash could lose; a blob left torn by a crash is named by no
// shipped segment and is stored again when its record is processed again.
//
// # Segment and scan objects
//
// Both share one layout. The header is not compressed, so a reader learns
// the range and times of an object with one small ranged read:
//
//	0      4   5   6   7   8          16         24          32          40      44      48
//	+------+---+---+---+---+----------+----------+-----------+-----------+-------+-------+-------…
//	|"TMBK"|ver|cod|knd| 0 | firstLSN | lastLSN  | firstTime | lastTime  | count | crc32c| body
//	+------+---+---+---+---+----------+----------+-----------+-----------+-------+-------+-------…
//	ver = 1; cod = codec of body (1 = zstd with frame checksum); knd = 1 segment, 2 scan, 3 snapshot
//	integers little-endian; times unix ns; crc32c (Castagnoli) covers bytes 0..43
//
// The decompressed body of a segment is a run of records in the redo log's
// own framing (redolog.AppendRecord: length, crc32c, lsn, time, type,
// payload), so every record keeps the checksum it had in the redo log.
// MessageAdded payloads are re-encoded with Blob emptied (the digest stays;
// the bytes are in blobs/) and with the targets of accounts that are not
// backed up removed; records that concern only such accounts are left out,
// so LSNs inside a segment may have gaps. A segment covers the positions
// first..last: a reader listing log/ may find overlapping segments while
// compaction runs, and chooses a chain of the largest covering segments in
// which no LSN appears twice (see chain).
//
// A scan object holds SmartScan corrections: records whose Type is one of
// the scan types (ScanCOS, ScanAccount, ScanFolder, ScanItem and
// ScanSubscriptions, 0xFF01..0xFF05) and
// whose LSN is the position they were computed at; they apply after the redo
// record of that LSN and before the next.
//
// A snapshot (kind 3) body is: uvarint length + tidemark.toml bytes,
// uvarint length + provisioning bytes, then the catalog's key/value pairs
// as uvarint length + key, uvarint length + value, in key order.
//
// A torn object cannot exist (objects are written whole); a corrupt one
// fails its header checksum, the zstd frame checksum or a record checksum
// and is reported by verify with ErrCorrupt.
package repository
