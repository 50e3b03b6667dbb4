// Package restore brings mail back from a backup repository: an account as
// of any time into a new account or in place, items deleted in a window
// (undelete), single items, deleted accounts, an export of chosen domains as
// a self-contained repository, an import of another repository (external
// restore, migration) and a whole server rebuilt from the repository alone
// (disaster recovery).
//
// Every mode but the whole-server one reads the backup catalog (engine/backup)
// for what existed when, the repository for the bytes, and writes through the
// engine API, so restored items are ordinary new redo records: they carry
// event.AddRestored, get new item ids and UIDs, and are themselves backed up.
// The whole-server mode replays the repository's records into a fresh data
// directory with their original times, so the new server's state is the old
// one's as of the chosen time.
//
// One item that cannot be restored (its blob is missing or corrupt in the
// repository, the engine rejects it) never stops a restore: it is listed in
// the Report with its id and the reason, and the rest goes on.
package restore
