// Package event defines every change tidemark records in its redo log and the
// versioned codec that turns an event into a record payload and back. It is
// pure data: no I/O, no clock, no state.
//
// # Payload layout
//
// A record's type field (redolog.Record.Type) is the event's Type. The
// payload is
//
//	+---------+------------------------------------------+
//	| version |  CBOR map with small-integer keys         |
//	|  1 byte |  (RFC 8949, core deterministic encoding)  |
//	+---------+------------------------------------------+
//
// The version byte is per event type. Fields are only ever added under new
// integer keys; a decoder ignores keys it does not know, so version 1 covers
// every additive change. A change of meaning gets a new version, and Decode
// keeps a branch for every version ever written, so old logs stay readable.
//
// # Determinism
//
// Apply must give the same state from the same record (ARCHITECTURE invariant 4).
// So every identifier an event introduces (account, folder and item ids,
// UIDs, UIDVALIDITY) is chosen by the engine before the record is written and
// carried in the event, and events that change flags carry the complete new
// flag set rather than a delta. The record's LSN is the MODSEQ of what it
// changes and the record's time is when it happened; neither is repeated in
// the payload.
package event
