package catalog

// metaNeedScan marks a SmartScan as due: set when an account's backup is
// re-enabled (Txn.Commit) or the scanner is switched off, cleared when a
// full SmartScan completes, so a restart runs the scan still owed.
var metaNeedScan = append([]byte{pMeta}, "needscan"...)

// NeedsScan reports whether a full SmartScan is due (a failed read counts
// as not due, as the scanner always treated it).
func (c *Catalog) NeedsScan() bool {
	v, ok, _ := getValue(c.db, metaNeedScan)
	return ok && len(v) > 0
}

// SetNeedsScan records durably that a full SmartScan is due.
func (c *Catalog) SetNeedsScan() error { return c.db.Set(metaNeedScan, []byte{1}, syncWrite) }

// ScanDone records durably that the SmartScan owed is done.
func (c *Catalog) ScanDone() error { return c.db.Delete(metaNeedScan, syncWrite) }

// Lock holds off the catalog's other writers (the scanner's commits,
// catch-up, snapshots, purge) until Unlock: purge and snapshots read the
// catalog and write it back in one piece.
func (c *Catalog) Lock() { c.mu.Lock() }

// Unlock ends Lock.
func (c *Catalog) Unlock() { c.mu.Unlock() }
