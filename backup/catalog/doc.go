// Package catalog is the backup's local index of every version of every
// account, folder and item the repository holds, with the queries restore
// and the backup views answer from it, the snapshots it writes into the
// repository and rebuilds from, and the schedule of repository objects
// waiting out their grace period before deletion. It sits on
// backup/repository and knows nothing of the scanner or the server.
//
// The catalog is a Pebble database (<data>/backup-catalog) that is a pure
// function of the repository: Rebuild from the latest snapshot plus the
// segments and scans after it gives the same answers as the live catalog.
// See keys.go for its key space. Writers are serialised by Catalog.Lock:
// the scanner commits a Txn per shipped batch, purge expires versions in
// one batch (Expire), snapshots are written under the lock.
package catalog
