// Package backup keeps tidemark's point-in-time backup: a real-time scanner
// that follows the redo log, ships it to a backup repository on an
// hsm.Volume and keeps the catalog up to date, with SmartScan, purge and a
// coherency check (verify) on top; and the Service that runs it in the
// server. It does not import the engine: the composition root hands it a
// LogSource, a BlobSource and a Source (backup/enginesrc adapts the
// engine).
//
// The repository format (objects, packs, dictionaries, owner record,
// encryption) is package backup/repository; its doc.go is the format's
// reference. The catalog, the local index of every version the repository
// holds, is package backup/catalog.
package backup
