// Package view serves an account's backup to its own user as read-only
// mailboxes: the account as it was at the end of any day of the retention
// window or at any instant of it, and every message deleted in the window.
// It owns the data side (names, times, snapshots, UIDs, bytes, copy-back);
// the IMAP layer serves it beside the live mailbox.
//
// # Names
//
// Under a namespace prefix (Options.Prefix, default "Backup", "/" as the
// separator):
//
//	Backup/YYYY-MM-DD/<folder path>   the folder at the last nanosecond of
//	                                  that day in Options.Location (default
//	                                  UTC; today: its newest state)
//	Backup/<RFC 3339 time>/<path>     the folder at that instant
//	Backup/Deleted                    every message deleted in the window,
//	                                  newest deletion first
//
// Days lists the days that have state (the account existed at their end);
// any instant of the window can be opened though only days are listed. A
// login USER+at=TIME (ParseLogin, any form internal/timearg accepts) names
// the whole account at TIME. A time before the account existed
// (ErrBeforeAccount), older than the retention window (ErrOutsideWindow),
// after now (ErrFuture), or when the backup holds no state of the account
// (ErrNotInBackup: backup off for its class then) is refused with the
// window in the message.
//
// # UIDs
//
// A folder's messages are its items at that time in their original UID
// order, and each keeps its original UID: UIDs are stable for a (folder,
// time), whoever opens it and however often. UIDVALIDITY is an FNV-1a hash
// of the account, the folder's id and original UIDVALIDITY and the time
// named (for today's day, the end of today: the newest state only adds
// messages with higher UIDs or removes some). Deleted numbers its messages
// from the newest deletion (UID 1), which newest-first order and ascending
// UIDs require; its UIDVALIDITY is derived from the newest deletion, so a
// new deletion renumbers it under a new UIDVALIDITY, and deletions that age
// out of the window only shorten it.
//
// # Snapshots and cache
//
// The first open of (account, time) reads the account's whole state at
// that time from the catalog once (the catalog's items are keyed by item,
// not folder) and keeps every folder of it; other folders and sessions at
// that time are then served from memory. Snapshots are cached, least
// recently used first out, up to Options.CacheMessages messages in total
// (about 190 bytes a message, flags shared within a snapshot; see
// docs/BENCHMARKS.md); the state at a time the catalog has not passed yet
// is keyed with the catalog's position, so new records make a new
// snapshot. Listing folders reads only folders.
//
// # Hostile data
//
// Catalog data is checked before it is served: a folder whose items have
// UID 0, UIDs that do not rise, or impossible sizes is not served
// (ErrCorrupt names the item); folder paths no live folder could have and
// duplicate paths are left out; flags that are not IMAP atoms are dropped.
// Bytes come from the repository's blob reader, which checks them against
// their digest, and must have the size the catalog gives. Every such
// failure is logged and wraps corrupt.ErrCorrupt.
//
// # Search
//
// Search, Sort and Thread run the engine's own evaluator (engine.SearchIn,
// SortIn, ThreadIn) over a view folder, reading bytes from the repository
// only when the criteria need them, so they answer as on a live folder,
// in view UIDs.
//
// # Copy-back
//
// CopyBack restores chosen messages of a view folder into a live folder
// through restore.Restorer.Items, the same path as `tidemark restore
// item`: a restore event in the redo log, backed up, seen by live
// sessions, with the original bytes, ignoring the quota.
//
// # Serving it over IMAP
//
// Router and Source present the view as the IMAP layer's second,
// read-only mailbox source (mailserver/imap Source and SourceRouter), in
// the engine's types: Route claims the names under the prefix, Folder
// opens one (its id is the source's own, UIDVALIDITY and UIDNEXT the
// view's, every MODSEQ 1), Items, OpenBlob and Search serve it, StoreFlags
// and Expunge refuse with ErrReadOnly (which is engine.ErrReadOnly, NO
// [CANNOT]), and Copy (and Move, which copies) restores into the live
// folder through CopyBack. Account.SourceAt serves live folder names at
// one time, for a USER+at=TIME session.
//
// # Isolation
//
// A view is opened for one live, authenticated account (Service.Account)
// and asks the catalog only about that account's id; nothing of another
// account or of provisioning is reachable through it. The class of
// service's BackupViewOff turns it off (ErrDisabled).
package view
