// Package socketmap answers Postfix's socketmap lookup protocol
// (socketmap_table(5)) from the engine, so Postfix knows at SMTP time which
// domains tidemark hosts and which recipients exist, and rejects unknown
// recipients with 550 at RCPT instead of accepting mail it would bounce
// later. It owns only the protocol and the translation to the engine's
// GetDomain and LookupAccount calls.
//
// # Protocol
//
// Every request and every reply is a netstring (http://cr.yp.to/proto/netstrings.txt):
//
//	<decimal length>:<bytes>,
//
// A request holds "<map name> <key>"; a connection carries any number of
// them, one reply each, in order. Replies:
//
//	OK <value>        the key exists
//	NOTFOUND          it does not (an empty value after the space)
//	TEMP <reason>     lookup trouble: Postfix answers 451 4.3.0 and the
//	                  sender retries
//	PERM <reason>     a request tidemark cannot answer (an unknown map
//	                  name): Postfix treats it as a configuration error
//
// Maps:
//
//	domain   key: a domain name. OK <domain> when the domain exists.
//	         For virtual_mailbox_domains.
//	mailbox  key: an address. OK <primary address> when an account has
//	         that address or alias and can receive mail (active or
//	         locked); TEMP for an account in maintenance (the LMTP
//	         server would answer 450 4.2.1); NOTFOUND for a closed
//	         account, an unknown address and anything that is not an
//	         address (Postfix also asks for "@domain" and bare local
//	         parts). For virtual_mailbox_maps.
//
// # Limits
//
// A request longer than MaxRequestSize (a length prefix that says so is
// enough) ends the connection, as does a malformed netstring: the stream
// cannot be resynchronised. Options.MaxConnections bounds the connections
// open at once (more are closed at accept). A connection must complete a
// request within Options.ReadTimeout of the previous reply (Postfix keeps
// idle connections open briefly, then closes them itself), and each lookup
// has Options.LookupTimeout.
package socketmap
