// Package mimetree parses the MIME structure of a raw message (RFC 2045,
// RFC 2046, RFC 5322) into a tree of byte offsets into that message, in one
// forward pass and with bounded work, for the IMAP BODYSTRUCTURE, BODY[...]
// and BINARY[...] answers.
//
// Every message is hostile input. The parse is bounded three ways:
//
//   - Depth. A multipart or message/rfc822 (message/global) part nested
//     deeper than Limits.MaxDepth containers is not opened: it becomes an
//     opaque application/octet-stream leaf whose body is its raw content.
//   - Parts. At most Limits.MaxParts parts are created. A container that
//     no longer fits (itself and one child) is an opaque leaf as above;
//     children of a multipart beyond the budget are not listed, and their
//     bytes stay inside the multipart's body.
//   - Cost. Each byte is looked at a constant number of times: delimiter
//     lines are recognised by a map lookup of the line among the active
//     boundaries (not by comparing it with each), and line counts come
//     from per-block counts taken once. Work and memory are linear in the
//     message size whatever its shape.
//
// Parsing never fails: a message without an empty line after its header is
// all header; a multipart whose boundary never appears has no children; a
// multipart that is never closed ends where its enclosing part ends. The
// offsets always lie inside the message, so any section can be cut from it
// byte for byte.
//
// Part numbering (Tree.Find) follows RFC 3501 section 6.4.5: the parts of a
// multipart are numbered from 1; a message/rfc822 part's numbers index the
// parts of the message it encloses; a part that is not a multipart is its
// own part 1.
package mimetree
