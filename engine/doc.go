// Package engine is tidemark's event-sourced core: it turns commands from
// producers (LMTP delivery, IMAP sessions, the CLI, restores) into events,
// appends them to the redo log, applies them to a Pebble projection, and
// answers queries about domains, accounts, folders and items.
//
// # Data directory
//
//	<data>/LOCK              held while open (ErrLocked for a second process)
//	<data>/redolog/          the redo log, source of truth
//	<data>/meta/             Pebble: the projection and the applied LSN
//	<data>/volumes/<name>/   local blob volumes; blob names blobs/ab/<sha256 hex>.
//	                         The default primary is a pack volume (hsm/packvol:
//	                         packs/, large/) when new or empty; a directory made
//	                         before packs (blobs/...) stays one file per blob
//	                         (hsm/localvol). Options.PrimaryLayout, hsm/volopen.
//
// internal/datadir defines these names. Volumes are data: the registry
// (VolumeCreated, VolumeModified, VolumeDeleted, VolumeCurrentSet records,
// volumes.go) says which exist, where, their compression and which are the
// current primary and secondary; a data directory without one gets its
// primary registered at its first open. A new current primary takes new
// blobs as soon as its record is committed (primaryswitch.go). The engine
// opens volumes through Options.OpenVolume (hsm.Opener) and knows no
// implementation. Blobs move between volumes with BlobMoved records
// (hsmmove.go, in batches: hsmbatch.go); hsm check (hsmcheck.go) records a
// whole copy found elsewhere the same way.
//
// The server (cmd/tidemark) adds tidemark.toml, tls/, admin.sock,
// backup-catalog/ (the scanner's catalog, backup) and
// server-identity.json (0600: the server's random id and its claim on the
// backup repository, backup owner.go; never in a backup).
//
// # Write path
//
// One writer goroutine owns sequencing. Callers queue commands; the writer
// drains everything queued (up to Options.MaxRound) into one round:
//
//  1. each command validates against an indexed Pebble batch that already
//     holds the effects of the earlier commands of the round, chooses ids,
//     UIDs and UIDVALIDITY, and yields one event (or an error, which
//     answers that command alone and writes nothing for it);
//  2. each event is applied to the batch at the LSN it will get (MODSEQ =
//     LSN), by the same apply code replay uses;
//  3. all events go to the redo log in one AppendBatch: one write, one
//     fsync for the round (group commit);
//  4. the volume copies of new blobs that ride inside records (up to
//     Options.InlineBlobMax) are handed to a background copy writer
//     (copywriter.go): the records are their durable copy, so the round
//     does not wait for them; until a copy is written, reads of the blob
//     are served from memory. A round waits only while more than
//     Options.InlineBacklog bytes of copies are pending (backpressure).
//     Copies are written without fsync where the primary volume
//     implements hsm.DeferredSyncer, durably otherwise;
//  5. the batch commits with the applied LSN (Pebble's WAL is off and the
//     commit is NoSync: the redo log is the source of truth);
//  6. watchers are notified and each command is answered.
//
// Larger blobs are written durably to the primary volume by the caller's
// goroutine before the command is queued (blob-first), so deliverers write
// in parallel. A blob already known (it has a blob record) is not written
// again. A failed append, inline copy write or commit poisons the engine:
// writes fail with ErrReadOnly until it is reopened, which replays the log
// (and rewrites any copy that was not written).
//
// # Recovery and checkpoints
//
// Pebble state is durable only when flushed. A checkpoint (Checkpoint,
// every Options.CheckpointInterval, early when many inline copies are
// pending, and Close) waits for the copy writer to write every copy
// enqueued so far, syncs the deferred inline copies, records the LSN
// they reach ("blobsynced") and flushes Pebble. Open reads the records
// after that LSN: those up to the applied LSN only to verify inline
// copies, every later one to apply; an inline copy that is missing or does
// not hash to its digest (a crash may leave an unsynced file empty or torn
// under its final name) is rewritten durably. See inline.go.
//
// A projection whose applied LSN is past the end of the redo log (the
// log's damaged last record was cut as a torn tail after the projection
// applied it) fails Open with a *LogBehindError. RepairLog, with the
// directory closed, writes the missing records back from a backup (their
// LSNs and times; the blobs they name checked on the primary volume and
// copied back if missing) or, when asked, records a gap in the log up to
// the applied LSN (redolog.Log.AcceptGap). Replay steps over a gap at or
// below the applied LSN; a gap past it means applied records were lost and
// is reported as ErrCorrupt. See repair.go.
//
// # Blob references
//
// Every blob has an exact reference count (copies, expunges, folder and
// account deletions). A count reaching zero at LSN n queues the blob for
// collection under n; it is deleted from its volume once the checkpoint has
// passed n and, with a consumer configured, Options.SafeLSN() >= n (and
// never while its inline copy is pending). A blob referenced again before
// that is rescued.
//
// # Redo-log retention
//
// The engine alone appends to and trims its redo log; others read it
// through TailLog and ReadLog (the backup scanner, status). TrimLog, run
// every Options.LogRetention by a server, removes the archived segments
// wholly at or below both the checkpoint and, with a consumer configured,
// Options.SafeLSN() (the position the backup has shipped). See logview.go.
//
// # Queries for IMAP
//
// Search and SearchItems (search.go) evaluate a SearchCriteria tree, which
// expresses every RFC 9051 search key (see its doc for the mapping; \Recent
// and sequence numbers are the session's and come in as UIDs). A criteria
// tree is compiled once per search and checked against limits (depth 100,
// 10,000 keys: ErrInvalid beyond). Each message is first decided from the
// projection alone (flags, dates, sizes, UIDs, MODSEQ) in three-valued
// logic; its blob is read only when that leaves the answer open, and then
// only the first 32 KiB of a large message when header keys are all that is
// left. Header values are RFC 2047-decoded in any charset go-message knows
// and address fields also match on their parsed addresses; body keys match
// decoded text parts (header.go, search.go). The context is checked between
// messages, so a deadline bounds a search.
//
// Sort (sort.go) orders a search result by RFC 5256 SORT criteria and the
// RFC 5957 DISPLAYFROM/DISPLAYTO, ties in UID order; Thread answers
// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES with a forest of item ids
// (Item 0 for a dummy). Both read each selected message's header once.
// The algorithms are pure functions of what they read: BaseSubject
// (subject.go, RFC 5256 section 2.1) and threadOrderedSubject and
// threadReferences (thread.go, section 3 step by step: loops in References
// are not linked, a duplicate Message-ID counts only for the first
// message, dummies are pruned and promoted as the RFC says).
//
// CONDSTORE and QRESYNC (RFC 7162): an item's MODSEQ is the LSN of the
// record that last changed it and a folder's HIGHESTMODSEQ the LSN of the
// last record that touched it (arrival, restore, flags, copy in, move in or
// out, expunge, rename). A change index (table 0x0F, changes.go) keeps each
// item under its MODSEQ, so ChangedSince lists the items changed after a
// MODSEQ and ChangesSince answers changed items, vanished UIDs and the
// folder from one snapshot (what an IMAP session resynchronises from) at
// a cost that follows the changes, not the folder; Open builds the index
// for a projection made before it;
// StoreFlagsCond stores flags with UNCHANGEDSINCE, reporting conflicting
// items (MODIFIED) and items that are gone instead of failing; VanishedSince
// answers VANISHED (EARLIER) from per-folder tombstones that apply writes in
// the batch of the expunge or move (table 0x0E, rebuilt by replay). Each
// folder keeps at most 100,000 vanished UIDs; older ones are aged out and a
// client asking from before them gets every UID of its range that no
// longer exists, as the RFC allows (vanished.go).
//
// An item keeps its id when it moves (between folders, or within one
// under a new UID: IMAP MOVE to the selected mailbox), while IMAP names a
// message by folder and UID. StoreFlagsAt, CopyAt, MoveAt and ExpungeAt
// therefore take an ItemAt (id and the UID the caller last saw) and, in
// the transaction, act only on an item still at that UID: a session that
// has not yet heard of a move treats the old UID as expunged, as Dovecot
// does, instead of reaching the moved message by it.
//
// # Pebble key layout
//
// See schema.go: one-byte table prefixes, big-endian integers, CBOR values.
package engine
