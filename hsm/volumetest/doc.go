// Package volumetest is the one conformance suite for hsm.Volume: every
// implementation (local directory, memory, S3) runs Run against itself, so
// they all keep the same contract for names, atomic replacement, ranges,
// not-found errors and listing order.
package volumetest
