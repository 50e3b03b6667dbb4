// Package operations owns tidemark's long administrative jobs (restores,
// SmartScans, purges, verifies, exports, imports and, later, HSM moves): it
// gives each an id, runs it in its queue, tracks its progress, lets it be
// stopped, keeps it and its final report across restarts, submits the
// scheduled ones and tells the administrators how each went.
//
// # Model
//
// A job is registered by kind (Manager.Register) with the lane it runs in
// and a Job function. Submitting a kind with JSON parameters creates an
// Operation in state queued. Each lane (LaneBackup for backups and restores,
// LaneStorage for storage moves) runs one operation at a time in submission
// order; the lanes run concurrently. States:
//
//	queued ──► running ──► done | failed | stopped
//	   │          │
//	   │          └──(restart, crash)──► interrupted
//	   └──(Stop)──► stopped; (restart, crash) ──► interrupted
//
// Stop ends a queued operation at once; a running one has its context
// cancelled with ErrStopped and ends when its job returns, at the job's next
// safe point, with the partial report the job returns. An operation that was
// queued or running when the manager closed or the process died is
// interrupted; Resubmit queues it again with the same parameters (every job
// is written to be safe to rerun).
//
// # Durability
//
// The manager owns a directory (in a server, <data>/operations/, mode 0700):
//
//	LOCK                      flock held while a Manager has it open
//	<id as 020d>.json         one Operation, rewritten whole at each change
//	                          of state and at most every Options.PersistEvery
//	                          while it runs (progress)
//
// Every file is 0600 and written atomically (temporary name, fsync, rename,
// fsync of the directory), so a crash leaves each operation as it was before
// or after a change, never half written. A file that does not parse is
// renamed to <name>.corrupt and reported; it never stops the server. At most
// Options.Keep ended operations are kept; the oldest go first.
//
// Pause holds a lane (its running operation goes on) until Resume or until
// the manager closes.
//
// # Schedules and notifications
//
// A Scheduler submits entries (a kind, parameters and a Schedule such as
// "daily 02:00" or "weekly sunday 03:00") on an injected clock, and never
// queues an entry again while its previous operation is still queued. A
// Notifier hears each operation's start and end; MailNotifier turns them
// into mail (with the report) handed to a Mailer, which the composition
// root implements by delivering through the engine like any other mail.
package operations
