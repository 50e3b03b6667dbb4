// Package oracle is the point-in-time oracle the restore tests share: a
// rig (an engine whose scanner ships to a repository, as the server wires
// them), random histories that record the account's state after every
// record, and a comparison of mailboxes by content, flags and dates. The
// restore modes and the backup view are checked against it.
package oracle
