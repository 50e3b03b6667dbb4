// Package restore brings mail back from a backup repository: an account as
// of any time into a new account or in place, items deleted in a window
// (undelete), single items, deleted accounts, an export of chosen domains as
// a self-contained repository, an import of another repository (external
// restore, migration) and a whole server rebuilt from the repository alone
// (disaster recovery).
//
// Every mode but the whole-server one reads the backup catalog (backup)
// for what existed when, the repository for the bytes, and writes through the
// engine API, so restored items are ordinary new redo records: they carry
// event.AddRestored, get new item ids and UIDs, and are themselves backed up.
// The whole-server mode replays the repository's records into a fresh data
// directory with their original times, and writes each SmartScan correction
// in between as the redo events that apply it (replay.go), so the new
// server's state is the backup's as of the chosen time for every account,
// including what only a SmartScan captured (an account whose class of
// service had backup off for a while).
//
// An export (Export) is a snapshot, not a filtered copy of the history: a new
// repository whose records, LSNs 1..n all stamped with the export time,
// create the chosen domains' classes of service, domains, accounts (with
// attributes, password hashes and aliases), folders and live items with their
// original ids, UIDs and UIDVALIDITY. It holds no older versions and no
// deleted items, exports as well from a purged repository, and is read like
// any repository by Server and External.
//
// An external restore (External) imports another repository in three phases:
// provisioning (users can log in and receive mail once it is done), folders
// and items, then aliases and subscriptions. A second run imports nothing
// twice: accounts are matched by address, items by folder path, digest and
// internal date (counted); accounts it creates carry AttrMigratedFrom.
//
// A folder's items are appended straight into it in chunks (engine
// AppendMany), in their original UID order, so the engine commits a chunk in
// one group instead of one fsync per item (see pipeline.go).
//
// One item that cannot be restored (its blob is missing or corrupt in the
// repository, the engine rejects it) never stops a restore: it is listed in
// the Report with its id and the reason, and the rest goes on; the report's
// Incomplete then returns an error wrapping ErrIncomplete, so the caller
// cannot mistake a partial restore for a complete one. Undelete and Item
// bring items back without \Deleted; account restores keep the flags of T.
package restore
