// Package memvol is an hsm.Volume held in memory, for fast unit tests of the
// packages that store blobs or a backup repository. It passes the same
// conformance suite as the local and S3 volumes; nothing survives the process.
package memvol
