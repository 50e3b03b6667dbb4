// Package imap serves a tidemark engine to IMAP clients (IMAP4rev1 and
// IMAP4rev2 over go-imap v2's imapserver). It is a thin protocol adapter:
// every read and change goes through the engine API declared as Backend,
// and it never touches the redo log, Pebble or volumes.
//
// The adapter owns what the library leaves to a backend: the per-session
// view of the selected folder (sequence numbers, pending EXPUNGE/EXISTS/
// FETCH FLAGS updates fed by engine.Watch), flag canonicalisation, the
// untagged FLAGS announcement of new keywords, the cleartext-login policy,
// the failed-login lockout, per-account connection limits, the idle timeout,
// request-size limits (limitReader, in front of the library's reader, which
// also terminates TLS so it can read the plaintext), the MIME structure
// (BODYSTRUCTURE, BODY[part], BINARY) from internal/mimetree's bounded
// parse, and the translation of engine errors into IMAP response codes.
package imap
