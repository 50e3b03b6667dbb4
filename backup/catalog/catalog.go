package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/internal/vfsutil"
)

// Catalog is the local index of every version the repository holds. Reads
// are safe for concurrent use; writes come from one scanner (or one CLI
// command) at a time, serialised by mu.
type Catalog struct {
	db  *pebble.DB
	dir string

	mu sync.Mutex // serialises writers (apply, purge, snapshot)
}

// Options configures Open.
type Options struct {
	// FS is the file system of the catalog's Pebble. Default vfs.Default.
	FS vfs.FS
	// ReadOnly opens the catalog without writing (CLI reads beside a
	// stopped server).
	ReadOnly bool
	// CacheSize is the catalog's block cache. Default DefaultCacheSize.
	CacheSize int64
}

// DefaultCacheSize is the catalog's default block cache: 16 MiB. The
// scanner looks up every changed message's newest version; after 100,000
// messages (a 35 MB catalog) Pebble's own default of 8 MiB missed so
// often that reading blocks again was 8-9 % of a busy server's CPU, 2 %
// with 32 MiB.
const DefaultCacheSize = 16 << 20

// Open opens (creating if needed) the catalog in dir.
func Open(dir string, opts *Options) (*Catalog, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	o.FS = vfsutil.Private(o.FS)
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	cache := pebble.NewCache(o.CacheSize)
	defer cache.Unref()
	po := &pebble.Options{FS: o.FS, ReadOnly: o.ReadOnly, Logger: quietLogger{}, Cache: cache}
	// Bloom filters (10 bits a key, about 1 % false positives): the
	// scanner's point lookups are mostly of keys that do not exist (a new
	// item version, a blob not yet backed up), which without a filter
	// read a block of every table on the way. Tables written before
	// have none and are read as before.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", dir, err)
	}
	return &Catalog{db: db, dir: dir}, nil
}

// Close closes the catalog.
func (c *Catalog) Close() error {
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("close catalog: %w", err)
	}
	return nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

var (
	metaPosition = append([]byte{pMeta}, "position"...)
	metaRepo     = append([]byte{pMeta}, "repository"...)
)

func getValue(r pebble.Reader, k []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

func getCBOR(r pebble.Reader, k []byte, v any) (bool, error) {
	b, ok, err := getValue(r, k)
	if err != nil || !ok {
		return ok, err
	}
	if err := cborDec.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%w: catalog key %x: %v", repository.ErrCorrupt, k, err)
	}
	return true, nil
}

func (c *Catalog) position(r pebble.Reader) (repository.Position, error) {
	var p repository.Position
	_, err := getCBOR(r, metaPosition, &p)
	return p, err
}

// Position returns the LSN up to which the catalog has applied the
// repository, and that record's time (unix ns).
func (c *Catalog) Position() (lsn uint64, unixNano int64, err error) {
	p, err := c.position(c.db)
	return p.LSN, p.Time, err
}

// BindRepository records the repository id on first use and refuses a
// catalog built from another repository.
func (c *Catalog) BindRepository(id string) error {
	b, ok, err := getValue(c.db, metaRepo)
	if err != nil {
		return err
	}
	if ok && string(b) != id {
		return fmt.Errorf("%w: catalog has %s, repository is %s", ErrRepositoryMismatch, b, id)
	}
	if !ok {
		return c.db.Set(metaRepo, []byte(id), pebble.Sync)
	}
	return nil
}

// Digest returns a SHA-256 over every catalog key and value that is a
// function of the repository (versions, classes of service, deletion index,
// reference counts), leaving out what describes this copy. Two catalogs
// built from the same repository have the same digest.
func (c *Catalog) Digest(ctx context.Context) ([32]byte, error) {
	h := sha256.New()
	it, err := c.db.NewIter(nil)
	if err != nil {
		return [32]byte{}, err
	}
	defer it.Close()
	var n [binary.MaxVarintLen64]byte
	for it.First(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return [32]byte{}, err
		}
		k := it.Key()
		if k[0] == pBlob || k[0] == pMeta {
			continue
		}
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
		h.Write(k)
		v := it.Value()
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(v)))])
		h.Write(v)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, it.Error()
}

// scanPrefixRange calls fn for every key/value under prefix p.
func scanPrefixRange(r pebble.Reader, p []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// lastUnder returns the last key/value under prefix p.
func lastUnder(r pebble.Reader, p []byte) (k, v []byte, ok bool, err error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, nil, false, err
	}
	defer it.Close()
	if it.Last() {
		return append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...), true, nil
	}
	return nil, nil, false, it.Error()
}

var syncWrite = pebble.Sync
