package catalog

// LiveItems calls fn with the newest version of every item that is not
// deleted, in key order (account, item).
func (c *Catalog) LiveItems(fn func(r ItemRec)) error {
	var cur []byte
	var last ItemRec
	have := false
	flush := func() {
		if have && !last.Deleted {
			fn(last)
		}
	}
	err := scanPrefixRange(c.db, []byte{pItem}, func(k, v []byte) error {
		if have && string(k[:17]) != string(cur) {
			flush()
		}
		cur = append(cur[:0], k[:17]...)
		last = ItemRec{}
		have = true
		return cborDec.Unmarshal(v, &last)
	})
	if err != nil {
		return err
	}
	flush()
	return nil
}

// ReferencedBlobs calls fn with every blob a version in the catalog
// references (its reference count is above zero).
func (c *Catalog) ReferencedBlobs(fn func(d [32]byte)) error {
	return scanPrefixRange(c.db, []byte{pRef}, func(k, _ []byte) error {
		var d [32]byte
		copy(d[:], k[1:])
		fn(d)
		return nil
	})
}

// AccountVersionDigests calls fn with the digest of every item version of
// acct the catalog holds (the zero digest for versions without a blob).
func (c *Catalog) AccountVersionDigests(acct uint64, fn func(d [32]byte)) error {
	return scanPrefixRange(c.db, key(pItem, acct), func(_, v []byte) error {
		var ir ItemRec
		if err := cborDec.Unmarshal(v, &ir); err != nil {
			return err
		}
		fn(ir.Digest)
		return nil
	})
}

// ForgetBlob removes the catalog's record that the repository holds d (a
// blob verify --fix moved aside), so the scanner stores it again when a
// record names it.
func (c *Catalog) ForgetBlob(d [32]byte) error {
	return c.db.Delete(append([]byte{pBlob}, d[:]...), syncWrite)
}
