// Package importer moves mail into tidemark from outside: mbox files,
// Maildir and Maildir++ trees, and a live IMAP server. It owns the three
// readers (one Source interface), the import loop that writes through the
// engine's batched append (Engine.AppendMany, so every imported message is
// a redo record and reaches the backup like any delivery), and the import
// state that makes a second run bring only what is new.
//
// # What is kept
//
// Bodies are stored byte for byte as the source holds them (after mbox
// unquoting, below): no line-ending conversion, no header rewriting, and
// malformed messages are imported as they are. Flags, keywords, internal
// dates and the folder hierarchy are carried over:
//
//	Maildir  ":2,<letters>": D \Draft, F \Flagged, P $Forwarded, R \Answered,
//	         S \Seen, T \Deleted; a-z are keywords named by the folder's
//	         dovecot-keywords file (line "<n> <name>", a = 0). Messages in
//	         new/ carry no flags. Internal date: the file's modification
//	         time (the delivery time for Dovecot, Courier and qmail); when
//	         that is before 1971, the seconds at the start of the file name.
//	         Maildir++: the root is INBOX (or --folder), ".a.b" is folder
//	         a/b; names are modified UTF-7 as Dovecot writes them.
//	mbox     "Status:" R \Seen; "X-Status:" A \Answered, F \Flagged,
//	         T \Draft, D \Deleted; "X-Keywords:" keywords separated by
//	         commas or spaces (only the message's header section is read;
//	         the headers stay in the stored message). Internal date: the
//	         date of the "From " line (read as UTC), else the Date: header,
//	         else the file's modification time.
//	IMAP     FLAGS (without \Recent) and INTERNALDATE as the server gives
//	         them; the server's hierarchy delimiter becomes "/"; special-use
//	         attributes (\Sent, \Drafts, ...) are given to folders created.
//
// A flag tidemark cannot store (a keyword with a space or a bracket, an
// unknown system flag) is dropped and the report counts it; the message
// is still imported.
//
// # mbox framing and quoting
//
// A message starts at a line "From <sender> <date>" that is the first line
// of the file or follows an empty line, and whose date parses (asctime,
// with or without a zone) or at least holds a time and a year. A "From "
// line in a body that does not look like that (an mbox written without
// quoting) stays in the body. The empty line before the next "From " line,
// and one empty line at the end of the file, are framing, not message.
// Content-Length headers (mboxcl, mboxcl2) are not used for framing.
//
// Quoting comes in two conventions, chosen with Options.MboxQuoting:
//
//	mboxrd (default)  the writer added one ">" to every line matching
//	                  ^>*From ; the reader removes one ">" from each such
//	                  line. This round-trips every body exactly.
//	mboxo             the writer added ">" to lines starting "From " only;
//	                  the reader removes it from lines starting ">From ".
//	                  A body line that really began ">From " cannot be told
//	                  from a quoted one in this format and loses its ">".
//
// Mutt, Python's mailbox module and Thunderbird write mboxo-style quoting
// (only "From " lines); for their files both readings give the same bytes
// unless a body had a line starting ">From ", which mboxo itself cannot
// carry. Dovecot and most archive tools write mboxrd.
//
// # Incremental runs and the state file
//
// Each (account, source) pair has a state file, JSON, written atomically
// (temporary file, fsync, rename, directory fsync) with mode 0600 under
// <data>/import/ (0700). Per source folder it holds a cursor: for IMAP the
// UIDVALIDITY and the next UID to import; for Maildir the unique names
// imported; for mbox the byte offset reached and the SHA-256 of the bytes
// before it, so an mbox that only grew resumes where it stopped and one
// that was rewritten is read again. It also holds the target folder's
// UIDVALIDITY and the UIDNEXT it had when the cursor was last saved (the
// base).
//
// The cursor is saved after each batch the engine committed. A crash or an
// outage between a commit and the save is covered by content: on the next
// run, messages past the cursor are compared with the target folder's
// items at or above the base (SHA-256 of the body and internal date,
// counted as a multiset, so two identical source messages still give two
// items), and those already there are skipped. So a rerun never duplicates
// a message, and it never re-imports one the user deleted after it was
// imported (those are below the base). A source whose cursor no longer
// fits (UIDVALIDITY changed, mbox rewritten) and a missing state file (a
// data directory rebuilt by restore server) fall back to comparing with
// the whole folder.
//
// The state lives in a file rather than in the redo log because it is a
// position in someone else's data, not mail: it changes with every batch,
// a Maildir cursor holds one name per message, and nothing in it needs to
// be restored from the backup, since the content comparison above stands
// in for it.
//
// # Bounds
//
// A message over the engine's maximum size is not read into memory and is
// reported as failed. Batches hold at most Options.BatchMessages messages
// and Options.BatchBytes bytes, and the reader runs at most one batch
// ahead of the engine. Every read and write on the remote connection has
// a deadline (Options.Timeout), and so has the dial.
package importer
