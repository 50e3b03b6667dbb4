// Package imap serves a tidemark engine to IMAP clients (IMAP4rev1, RFC
// 3501, and IMAP4rev2, RFC 9051). It owns the whole command layer and is
// a thin adapter below it: every read and change goes through the engine
// API declared as Backend, and it never touches the redo log, Pebble or
// volumes.
//
// # Layers
//
// A connection (conn.go) reads through three stages:
//
//	transport (TCP, or TLS over it)
//	  → limitReader: request-size limits, line by line, before any parsing
//	  → bufio.Reader
//	  → decoder (wire.go): tag, atoms, quoted strings, literals ({n},
//	    {n+} LITERAL+, ~{n} literal8), sequence sets, search keys
//	    (searchparse.go), fetch items and modifiers (fetchparse.go)
//
// and writes through an encoder (encode.go) under one lock, so untagged
// updates from the engine watch (EXISTS, EXPUNGE, FETCH FLAGS) and a BYE
// from a timer never interleave with a response. The dispatcher
// (commands.go) holds the RFC 9051 state (not authenticated,
// authenticated, selected, logout) and a table of commands with the states
// they are valid in; an unknown command gets BAD in every state without
// ending the session. Each command parses its arguments to the end of the
// line before it acts, so a syntax error (BAD) never leaves a command half
// done.
//
// The session (session.go, view.go) owns what the engine leaves to the
// protocol: the per-session view of the selected folder (sequence numbers,
// pending EXPUNGE/EXISTS/FETCH FLAGS updates fed by engine.Watch), flag
// canonicalisation and the FLAGS announcement of new keywords, \Recent,
// the cleartext-login policy, the failed-login lockout, per-account
// connection limits, the idle timeout, the MIME structure (BODYSTRUCTURE,
// BODY[part], BINARY) from internal/mimetree's bounded parse, and the
// translation of engine errors into IMAP response codes.
//
// # Extensions
//
// Beyond IMAP4rev1/rev2: LITERAL+, ID, ENABLE, IDLE, NAMESPACE, UNSELECT,
// UIDPLUS, ESEARCH, SEARCHRES, LIST-EXTENDED, LIST-STATUS, MOVE,
// STATUS=SIZE, BINARY, CHILDREN, SPECIAL-USE, CREATE-SPECIAL-USE,
// MULTIAPPEND, SASL-IR, UTF8=ACCEPT, CONDSTORE and QRESYNC (condstore.go,
// over the engine's per-item MODSEQ and its record of expunged UIDs),
// SORT and THREAD (sort.go, computed by the engine), QUOTA (quota.go),
// COMPRESS=DEFLATE (compress.go, inflating through internal/inflate). Each
// SEARCH, SORT and THREAD is one engine SearchCriteria tree (search.go);
// the session only maps sequence numbers, "$" and \Recent to UIDs.
//
// # Sources: a second, read-only view beside the live account
//
// Everything done to a selected mailbox goes through a Source (source.go):
// the live account's folders (liveSource over the Backend) unless
// Options.Sources routes the name elsewhere. A read-only source, such as
// the backup view of restore/view, plugs in by implementing Source with
// ReadOnly() true and a SourceRouter that claims its names (the "Backup/"
// prefix, or every name for a USER+at=TIME session):
//
//   - SELECT and EXAMINE of its names open it [READ-ONLY]; its FETCH,
//     SEARCH, CHANGEDSINCE and VANISHED go to it; STORE, EXPUNGE and MOVE
//     are refused before it is called;
//   - COPY from it calls its Copy with the live destination folder,
//     which for the backup view is a restore (view.Account.CopyBack);
//   - item ids are its own; Key() keeps them apart in the shared header
//     cache; its UIDVALIDITY is whatever its Folder reports;
//   - the session does not watch it (a read-only snapshot does not
//     change), so no EXISTS/EXPUNGE updates are sent for it.
//
// LIST, LSUB, STATUS and NAMESPACE answer for the live account only: the
// wiring of the view's names into them (and the USER+at=TIME login) is
// left to the code that wires the view, through the same router.
//
// # Limits
//
// Request size: see limitReader and Options.MaxRequestSize. Time:
// Options.LoginTimeout before authentication, IdleTimeout after,
// SearchTimeout per search (also cancelled when the client disconnects,
// see clientGone). Logins: the lockout table (lockout.go) is bounded and
// slows an IP that keeps failing. Folders: MaxFolderDepth, MaxFolders.
// Structure:
// nesting of lists and search keys (maxNesting), keys per SEARCH
// (maxSearchKeys, maxSearchTextKeys), ranges per sequence set. Before
// authentication a literal is at most preAuthLiteral bytes and a larger
// synchronising one is refused without a continuation, and so is every
// literal of a command not valid before authentication (APPEND). APPEND
// messages above 64 KiB are spooled to a private temporary file
// (Options.TempDir) while they arrive. Client input in log lines is
// truncated.
package imap
