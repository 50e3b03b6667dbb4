package importer

import (
	"context"
	"time"
)

// Source is where mail is imported from. A Source is used by one import
// at a time.
type Source interface {
	// Key identifies the source for the import state (an absolute path,
	// or user@host:port); two runs against the same source give the same
	// key.
	Key() string
	// Folders lists the source's folders, parents before children.
	Folders(ctx context.Context) ([]Folder, error)
	// Open starts reading folder f after cursor c (the zero Cursor: from
	// the beginning).
	Open(ctx context.Context, f Folder, c Cursor) (FolderReader, error)
	// Close releases the source (files, the connection).
	Close() error
}

// FolderReader yields one folder's messages in source order.
type FolderReader interface {
	// Restarted reports that the cursor no longer fitted the source
	// (UIDVALIDITY changed, the mbox was rewritten) and every message is
	// read again.
	Restarted() bool
	// Pending estimates the messages and bytes left to read; -1 when not
	// known.
	Pending() (msgs, bytes int64)
	// Next returns the next message, or io.EOF after the last. Any other
	// error ends the folder: the source could not be read.
	Next(ctx context.Context) (Message, error)
	// Close releases the reader.
	Close() error
}

// Folder is one folder of a source.
type Folder struct {
	Name       string // the source's own name, the key of its cursor
	Path       string // the tidemark folder path it goes to ("INBOX", "a/b")
	SpecialUse string // \Sent, \Drafts, ... for a folder that is created
	NoSelect   bool   // holds no messages (a hierarchy node); created only
	Messages   int64  // estimate for progress; 0 when unknown
}

// Message is one message read from a source.
type Message struct {
	ID    string    // where it is in the source, for reports ("uid 42", a file name, "offset 1234")
	Body  []byte    // exact bytes; nil when Err is set
	Flags []string  // IMAP flags and keywords
	Date  time.Time // internal date; never zero for a readable message
	Size  int64     // bytes (also when the body was not read because it is too large)
	// Err marks a message that is reported as failed and passed over
	// (too large, unreadable); the cursor still moves past it.
	Err error
	// Advance moves a cursor past this message. It is applied once the
	// message is committed, skipped or reported failed.
	Advance func(*Cursor)
}

// Cursor is how far one folder of a source has been imported.
type Cursor struct {
	// Validity is the IMAP UIDVALIDITY that Next belongs to.
	Validity uint32 `json:"validity,omitempty"`
	// Next is, for IMAP, the first UID not imported; for mbox, the byte
	// offset of the first message not imported.
	Next uint64 `json:"next,omitempty"`
	// Prefix is, for mbox, the hex SHA-256 of the bytes before Next.
	Prefix string `json:"prefix,omitempty"`
	// Names are, for Maildir, the unique names (before ":2,") imported.
	Names map[string]bool `json:"names,omitempty"`
}
