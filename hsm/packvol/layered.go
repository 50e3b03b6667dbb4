package packvol

// index is the volume's index: the checkpoint file (ckptfile.go) under
// the changes made since it was written (delta), looked up newest first.
// While a new checkpoint is being merged, the delta it merges is frozen
// and a new one takes the writes, so a lookup reads delta, frozen, file.
// A record in a layer hides every older layer's record of the name; a
// removal is a record with n == 0. A record whose pack is gone (Compact
// removed it) is absent. Not safe for concurrent use: the Volume guards
// it with mu (a lookup in the file is a ReadAt, done under the read lock).
type index struct {
	delta  *memIndex
	frozen *memIndex // being merged into a new file; nil otherwise
	file   *ckptFile // nil without a version 2 checkpoint
	n      int       // visible names
	exists func(seq uint64) bool
}

// newIndex returns an empty index; exists reports whether a pack is there.
func newIndex(exists func(seq uint64) bool) *index {
	return &index{delta: newMemIndex(0, 0), exists: exists}
}

// len returns the number of names the index maps.
func (x *index) len() int { return x.n }

// get returns the place of name's newest entry. An error (a block of the
// checkpoint file that cannot be read or fails its checksum) wraps
// ErrCorrupt or the read error.
func (x *index) get(name string) (loc, bool, error) {
	if l, ok := x.delta.get(name); ok {
		return l, l.n != 0 && x.exists(l.seq), nil
	}
	if x.frozen != nil {
		if l, ok := x.frozen.get(name); ok {
			return l, l.n != 0 && x.exists(l.seq), nil
		}
	}
	if x.file == nil {
		return loc{}, false, nil
	}
	l, ok, err := x.file.get(name)
	if err != nil || !ok {
		return loc{}, false, err
	}
	return l, x.exists(l.seq), nil
}

// put records l as name's place and returns the place it replaces, if
// any. On an error the put is recorded but old is unknown.
func (x *index) put(name string, l loc) (old loc, had bool, err error) {
	old, had, err = x.get(name)
	x.delta.put(name, l)
	if !had {
		x.n++
	}
	return old, had, err
}

// remove records name as removed and returns the place it had, if any.
func (x *index) remove(name string) (old loc, had bool, err error) {
	old, had, err = x.get(name)
	switch {
	case !had && err == nil:
		// Not visible: nothing to hide.
	case x.file == nil && x.frozen == nil:
		x.delta.remove(name)
	default:
		x.delta.put(name, loc{}) // hides the older layers' record
	}
	if had {
		x.n--
	}
	return old, had, err
}

// withPrefix calls fn with every name under prefix and its place, in no
// particular order.
func (x *index) withPrefix(prefix string, fn func(name string, l loc)) error {
	var seen map[string]struct{}
	layers := []*memIndex{x.delta, x.frozen}
	if x.frozen == nil {
		layers = layers[:1]
	}
	if x.frozen != nil || x.file != nil {
		seen = map[string]struct{}{}
	}
	for _, m := range layers {
		m.withPrefix(prefix, func(name string, l loc) {
			if seen != nil {
				if _, dup := seen[name]; dup {
					return
				}
				seen[name] = struct{}{}
			}
			if l.n != 0 && x.exists(l.seq) {
				fn(name, l)
			}
		})
	}
	if x.file == nil {
		return nil
	}
	return x.file.withPrefix(prefix, func(name string, l loc) {
		if _, dup := seen[name]; !dup && x.exists(l.seq) {
			fn(name, l)
		}
	})
}

// fold puts the frozen delta back under the current one after a merge
// failed: the current delta's records win.
func (x *index) fold() {
	if x.frozen == nil {
		return
	}
	f := x.frozen
	x.delta.withPrefix("", func(name string, l loc) { f.put(name, l) })
	x.delta, x.frozen = f, nil
}
