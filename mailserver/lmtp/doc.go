// Package lmtp delivers mail handed over by an MTA (Postfix's lmtp transport,
// as to a Zimbra mailbox server) into the engine: it speaks LMTP (RFC 2033)
// on go-smtp with LMTP mode on and owns only the translation between the
// protocol and the engine's LookupAccount and Deliver calls; it never touches
// the redo log, Pebble or volumes.
//
// # Protocol
//
// The server answers LHLO and advertises PIPELINING, 8BITMIME,
// ENHANCEDSTATUSCODES, CHUNKING and SIZE <Options.MaxMessageSize>. Each RCPT
// TO is looked up at once (primary address or alias, case-insensitive), so an
// unknown user is refused at RCPT time and never reaches DATA. After DATA
// (or BDAT LAST) one reply line per accepted recipient follows, in RCPT
// order, and a recipient gets 250 only once engine.Deliver has returned,
// which it does after the delivery record is durable in the redo log.
//
// # Replies
//
//	250 2.0.0  Ok: stored as item <id>, uid <uid> (durable in the redo
//	           log, not queued: the mailbox holds it)
//	550 5.1.1  no such user (RCPT)
//	550 5.2.1  account closed (RCPT, or DATA if it closed in between)
//	450 4.2.1  account in maintenance: the MTA keeps the mail and retries
//	552 5.2.2  over quota (DATA, per recipient)
//	552 5.3.4  message too large (MAIL FROM SIZE=, or DATA)
//	554 5.6.0  a line longer than Options.MaxLineLength (DATA)
//	501 5.1.3  recipient address is not a valid mailbox
//	451 4.3.0  any storage or internal trouble; the text never carries the
//	           internal error, which goes to Options.Logger instead
//
// Every recipient refused at RCPT and every recipient of a transaction that
// reached the end of DATA gets one Info line "lmtp: delivery" on
// Options.Logger with rcpt, from, size, queue_id (the MTA's queue id, read
// from the id clause of the message's first Received: field, which Postfix
// adds; "" when there is none) and result (the reply as sent).
//
// Locked accounts still receive mail, as in Zimbra: locking stops logins,
// not delivery. Every error handed to go-smtp is an *smtp.SMTPError, because
// go-smtp answers any other error with a permanent 554 that would bounce the
// mail and show internal text to the sender.
//
// # What is stored
//
// The message is stored as received on the wire, after dot-unstuffing: CRLF
// line endings as the client sent them (a bare LF inside is kept as is), no
// re-encoding. Two header lines are prepended, CRLF-terminated:
//
//	Return-Path: <sender>          always (<> for the null sender)
//	Delivered-To: <rcpt>           only when the transaction has exactly one
//	                               recipient account
//
// One message to many recipients is stored once: engine.Deliver writes one
// blob and one record for all of them, which needs identical bytes for every
// recipient. A per-recipient Delivered-To would make the bytes differ and
// break that, so with several recipient accounts it is left out, as Zimbra
// (one blob per message) does; Return-Path is the same for all. Postfix
// sends one recipient per transaction when lmtp_destination_recipient_limit
// is 1, for sites that want Delivered-To on every copy.
//
// Several RCPT TO lines naming the same account (its address twice, or an
// address and an alias) deliver one copy; each line still gets its own
// reply, as RFC 2033 requires.
package lmtp
