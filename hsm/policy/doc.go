// Package policy parses and evaluates HSM policies: which items' blobs
// move to the current secondary volume. It is pure: no I/O, an injected
// clock.
//
// # Grammar
//
// A policy is lines; each line is
//
//	types:query
//
// split at the first ':'. types is a comma-separated list of item types
// (message, document, contact, appointment, task). query is terms separated
// by blanks, all of which must hold (AND); a policy selects an item when
// any line does (lines are ORed and tried in order). Terms:
//
//	before:WHEN   the item's date is before WHEN
//	after:WHEN    the item's date is after WHEN
//	in:FOLDER     the item is in FOLDER (its full path, "/"-separated;
//	              INBOX in any case); quote a name with blanks: in:"Old Mail"
//	has:attachment  the message has an attachment
//	larger:SIZE   more than SIZE bytes; smaller:SIZE less than SIZE
//	is:read, is:unread, is:flagged, is:unflagged
//
// WHEN is relative to now, -N followed by minute, hour, day, week or month
// (plural allowed: -30day, -2weeks), or a date YYYY-MM-DD (UTC midnight).
// SIZE is a number with an optional unit B, KB, MB or GB (powers of 1024).
// A query has at least one term. The default policy is Default
// (message,document:before:-30day). Errors name the line and column.
package policy
