// Package backup keeps tidemark's point-in-time backup: a real-time scanner
// that follows the redo log and ships it to a backup repository on an
// hsm.Volume, and a local catalog of every version of every account,
// folder and item, with SmartScan, purge and a coherency check (verify) on
// top; and the Service that runs it in the server. It does not import the
// engine: the composition root hands it a LogSource, a BlobSource and a
// Source (backup/enginesrc adapts the engine).
//
// The repository format (objects, packs, dictionaries, owner record,
// encryption) is package backup/repository; its doc.go is the format's
// reference.
//
// # Catalog
//
// The catalog is a Pebble database (<data>/backup-catalog) that is a pure
// function of the repository: Rebuild from the latest snapshot plus the
// segments and scans after it gives the same answers as the live catalog.
// See keys.go for its key space.
package backup
