// Package backup runs tidemark's point-in-time backup in the server: the
// Service opens the repository (retrying while it is unreachable), checks
// and claims its ownership, binds the catalog to it and runs the scanner,
// starting it again when a refusal ends, and answers status and lag. It
// does not import the engine: backup/enginesrc adapts the engine to it.
//
// The backup's parts are packages of their own, each over the ones before
// it:
//
//   - backup/repository: the repository format (objects, packs,
//     dictionaries, owner record, encryption); its doc.go is the format's
//     reference.
//   - backup/catalog: the local index of every version the repository
//     holds, its snapshots and rebuild.
//   - backup/maint: purge and verify over a repository and its catalog.
//   - backup/scanner: the real-time scanner, SmartScan and the background
//     maintenance of what it ships.
package backup
