// Package hsm owns the Volume contract: whole named objects stored on a local
// directory, in memory or in S3-compatible object storage, with the error
// classification (permanent or temporary) and the decorators (retry,
// read-only, fault injection) that every volume shares.
//
// A Volume is dumb storage: it knows bytes and names, never mail. The engine
// keeps message blobs on volumes and the backup repository lives on one; the
// logic of what to store where sits in those callers. This package will also
// own hierarchical storage management — tiers of volumes, the policies that
// select items for a tier, and the blob moves between them — which builds on
// the contract defined here.
//
// Implementations: hsm/localvol (a directory through a vfs.FS), hsm/memvol
// (in memory, for tests) and hsm/s3vol (the only importer of minio-go). Every
// implementation passes the conformance suite in hsm/volumetest.
package hsm
