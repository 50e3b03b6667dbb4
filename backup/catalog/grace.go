package catalog

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
)

// DefaultSupersededGrace is how long an object that maintenance or purge
// no longer needs is kept before it is deleted (Options.SupersededGrace,
// maint.PurgeOptions.Grace).
const DefaultSupersededGrace = 10 * time.Minute

// Deferred deletions. A pack that a merge or a purge rewrite replaced, a
// loose blob purge found dead, and the segments, scans and older snapshots
// purge folded into its snapshot are not deleted at once: a copy of the
// repository taken meanwhile (cp -r, rsync: they list first and copy
// later) may have listed it and the objects that need it. Its name is
// recorded in the catalog with the time it may go:
//
//	pMeta "delete/" <object name>  →  due time, unix ns (8 bytes, big-endian)
//
// These keys are local to this catalog (like every pMeta key: not in
// snapshots, not in Digest), so a restart keeps the schedule; the
// scanner's maintenance and the next purge carry it out. A pack waiting
// here is no longer counted as a copy of any blob (repository.SupersededPacks,
// merges and purge rewrites leave it out), so two packs holding the same
// blobs never wait for deletion because of each other.
var metaDeletePrefix = append([]byte{pMeta}, "delete/"...)

func deleteKey(name string) []byte {
	return append(append([]byte(nil), metaDeletePrefix...), name...)
}

// DeferDelete records that names may be deleted from due on; a name
// already waiting keeps its due time.
func (c *Catalog) DeferDelete(names []string, due time.Time) error {
	if len(names) == 0 {
		return nil
	}
	b := c.db.NewBatch()
	defer b.Close()
	v := binary.BigEndian.AppendUint64(nil, uint64(due.UnixNano()))
	for _, n := range names {
		k := deleteKey(n)
		if _, ok, err := getValue(c.db, k); err != nil {
			return err
		} else if ok {
			continue
		}
		if err := b.Set(k, v, nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("defer delete: %w", err)
	}
	return nil
}

// Pending returns the objects waiting for deletion and their due
// times (unix ns).
func (c *Catalog) Pending() (map[string]int64, error) {
	out := map[string]int64{}
	err := scanPrefixRange(c.db, metaDeletePrefix, func(k, v []byte) error {
		if len(v) == 8 {
			out[string(k[len(metaDeletePrefix):])] = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return out, err
}

// PendingDeletes lists the repository objects waiting for their grace
// period to pass before they are deleted, with the time each may go.
func (c *Catalog) PendingDeletes() (map[string]time.Time, error) {
	p, err := c.Pending()
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(p))
	for n, t := range p {
		out[n] = nsTime(t)
	}
	return out, nil
}

// ReapDeletes deletes the waiting objects due at now and returns how many
// it deleted. A loose blob is kept (and its entry dropped) when it has
// been stored again since purge found it dead: the catalog knows it, or
// storing reports it is being stored. storing may be nil; locked, when
// set, runs the loose-blob checks and deletions under the scanner's lock,
// a few at a time.
func ReapDeletes(ctx context.Context, r *repository.Repository, c *Catalog, now time.Time, locked func(func() error) error, storing func(dedup.Digest) bool) (int, error) {
	pending, err := c.Pending()
	if err != nil {
		return 0, err
	}
	var packs, loose []string
	for name, due := range pending {
		if due > now.UnixNano() {
			continue
		}
		if _, ok := repository.ParseBlobObject(name); ok {
			loose = append(loose, name)
		} else {
			packs = append(packs, name)
		}
	}
	// Segments, scans and snapshots go before the packs and loose blobs
	// they may name, so a copy taken while this runs never holds a record
	// whose blob is gone.
	sort.Slice(packs, func(i, j int) bool {
		pi, pj := strings.HasPrefix(packs[i], repository.PackPrefix), strings.HasPrefix(packs[j], repository.PackPrefix)
		if pi != pj {
			return pj
		}
		return packs[i] < packs[j]
	})
	sort.Strings(loose)
	n := 0
	var deleted []string
	defer func() { r.Forget(deleted...) }()
	for _, name := range packs {
		if err := r.DeleteObject(ctx, name); err != nil {
			return n, fmt.Errorf("delete %s: %w", name, err)
		}
		deleted = append(deleted, name)
		if err := c.db.Delete(deleteKey(name), pebble.Sync); err != nil {
			return n, err
		}
		n++
	}
	if locked == nil {
		locked = func(f func() error) error { return f() }
	}
	const perLock = 64
	for len(loose) > 0 {
		part := loose[:min(perLock, len(loose))]
		loose = loose[len(part):]
		if err := locked(func() error {
			for _, name := range part {
				d, _ := repository.ParseBlobObject(name)
				_, known, err := getValue(c.db, append([]byte{pBlob}, d[:]...))
				if err != nil {
					return err
				}
				if !known && (storing == nil || !storing(d)) {
					if err := r.DeleteObject(ctx, name); err != nil {
						return fmt.Errorf("delete %s: %w", name, err)
					}
					deleted = append(deleted, name)
					n++
				}
				if err := c.db.Delete(deleteKey(name), pebble.Sync); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return n, err
		}
	}
	return n, nil
}
