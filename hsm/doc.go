// Package hsm owns the Volume contract: whole named objects stored on a local
// directory, in memory or in S3-compatible object storage, with the error
// classification (permanent or temporary) and the decorators (retry,
// read-only, fault injection) that every volume shares.
//
// A Volume is dumb storage: it knows bytes and names, never mail. The engine
// keeps message blobs on volumes and the backup repository lives on one; the
// logic of what to store where sits in those callers. This package also
// defines what hierarchical storage management needs of a volume: its Spec
// (what the registry records: kind, type, place, compression), the Opener
// that turns a spec into a Volume (the composition root's, or hsm/volopen
// for local ones), and optional interfaces (Compactor, Checkpointer,
// SpaceReporter, DeferredSyncer, VerifyingPutter). The registry, the live
// switch of the primary and the blob moves live in the engine (volumes.go,
// primaryswitch.go, hsmmove.go, hsmbatch.go, hsmcheck.go), the policy grammar in hsm/policy,
// the read cache of slow volumes in hsm/cachevol.
//
// Implementations: hsm/localvol (a directory through a vfs.FS), hsm/packvol
// (small objects packed into append-only files), hsm/memvol (in memory, for
// tests) and hsm/s3vol (the only importer of minio-go); decorators
// hsm/cryptvol and hsm/cachevol. Every one passes the conformance suite in
// hsm/volumetest.
package hsm
