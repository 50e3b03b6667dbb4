package backup

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/internal/vfsutil"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/redolog"
)

// Snapshot names: catalog/<020d lsn>-<020d unix ns>.snap.zst. The time part
// keeps two snapshots at one LSN (a purge with no new records) apart, so no
// object is ever rewritten.
func snapshotObjName(lsn uint64, t int64) string {
	return fmt.Sprintf("%s%020d-%020d%s", snapPrefix, lsn, t, snapSuffix)
}

// SnapshotInfo names one catalog snapshot.
type SnapshotInfo struct {
	Name string
	LSN  uint64
	Time time.Time
	Size int64
}

// Snapshots lists the catalog snapshots, oldest first.
func (r *Repository) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	var out []SnapshotInfo
	err := r.vol.List(ctx, snapPrefix, func(o hsm.ObjectInfo) error {
		if l, t, ok := parsePair(o.Name, snapPrefix, snapSuffix); ok {
			out = append(out, SnapshotInfo{Name: o.Name, LSN: l, Time: nsTime(int64(t)), Size: o.Size})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].LSN != out[j].LSN {
			return out[i].LSN < out[j].LSN
		}
		return out[i].Time.Before(out[j].Time)
	})
	return out, err
}

// writeSnapshot stores the catalog (minus the per-copy B and M keys) with
// its position and cfg. Callers hold c.mu or otherwise keep writers out.
func (c *Catalog) writeSnapshot(ctx context.Context, r *Repository, cfg ConfigSnapshot, now int64) (string, error) {
	pos, err := c.position(c.db)
	if err != nil {
		return "", err
	}
	body := appendUvarintBytes(nil, cfg.TOML)
	body = appendUvarintBytes(body, cfg.Provisioning)
	body = appendUvarintBytes(body, mustMarshal(pos))
	snap := c.db.NewSnapshot()
	defer snap.Close()
	if err := scanPrefixRange(snap, nil, func(k, v []byte) error {
		if k[0] == pBlob || k[0] == pMeta {
			return nil
		}
		body = appendUvarintBytes(body, k)
		body = appendUvarintBytes(body, v)
		return nil
	}); err != nil {
		return "", err
	}
	if now <= pos.Time {
		now = pos.Time + 1
	}
	obj := encodeObject(header{Kind: kindSnapshot, First: pos.LSN, Last: pos.LSN, FirstTime: pos.Time, LastTime: now}, body)
	name := snapshotObjName(pos.LSN, now)
	if err := r.putObject(ctx, name, obj); err != nil {
		return "", fmt.Errorf("put snapshot: %w", err)
	}
	return name, nil
}

// snapshotData is a decoded snapshot.
type snapshotData struct {
	pos    position
	config ConfigSnapshot
	kvs    [][2][]byte
}

func (r *Repository) readSnapshot(ctx context.Context, name string) (snapshotData, error) {
	var sd snapshotData
	b, err := hsm.ReadAll(ctx, r.vol, name)
	if err != nil {
		return sd, fmt.Errorf("read %s: %w", name, err)
	}
	h, body, err := decodeObject(b)
	if err == nil && h.Kind != kindSnapshot {
		err = fmt.Errorf("%w: kind %d is not a snapshot", ErrCorrupt, h.Kind)
	}
	var p []byte
	if err == nil {
		sd.config.TOML, body, err = readUvarintBytes(body)
	}
	if err == nil {
		sd.config.Provisioning, body, err = readUvarintBytes(body)
	}
	if err == nil {
		p, body, err = readUvarintBytes(body)
	}
	if err == nil {
		if uerr := cborDec.Unmarshal(p, &sd.pos); uerr != nil {
			err = fmt.Errorf("%w: snapshot position: %v", ErrCorrupt, uerr)
		}
	}
	for err == nil && len(body) > 0 {
		var k, v []byte
		if k, body, err = readUvarintBytes(body); err == nil {
			v, body, err = readUvarintBytes(body)
			sd.kvs = append(sd.kvs, [2][]byte{k, v})
		}
	}
	if err != nil {
		return sd, fmt.Errorf("read %s: %w", name, err)
	}
	return sd, nil
}

// ConfigAt returns the server configuration stored with the newest
// snapshot taken at or before t, with that snapshot's time.
func (r *Repository) ConfigAt(ctx context.Context, t time.Time) (ConfigSnapshot, time.Time, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return ConfigSnapshot{}, time.Time{}, err
	}
	best := -1
	for i, s := range snaps {
		if !s.Time.After(t) && (best < 0 || s.Time.After(snaps[best].Time)) {
			best = i
		}
	}
	if best < 0 {
		return ConfigSnapshot{}, time.Time{}, fmt.Errorf("config at %s: %w", t.Format(time.RFC3339), ErrNotFound)
	}
	sd, err := r.readSnapshot(ctx, snaps[best].Name)
	return sd.config, snaps[best].Time, err
}

// Rebuild makes a catalog in dir (which must not hold one) from the
// repository alone: the newest snapshot, then every segment and scan after
// it, then the list of stored blobs.
func Rebuild(ctx context.Context, r *Repository, dir string, fs vfs.FS) (*Catalog, error) {
	return rebuildTo(ctx, r, dir, fs, ^uint64(0))
}

// SnapshotAt builds, in dir, the catalog as it stood at lsn: from the
// newest snapshot at or before lsn plus the records up to lsn. Restore uses
// it to start a disaster recovery from a known state.
func SnapshotAt(ctx context.Context, r *Repository, dir string, fs vfs.FS, lsn uint64) (*Catalog, error) {
	return rebuildTo(ctx, r, dir, fs, lsn)
}

func rebuildTo(ctx context.Context, r *Repository, dir string, fs vfs.FS, to uint64) (*Catalog, error) {
	if fs == nil {
		fs = vfs.Default
	}
	fs = vfsutil.Private(fs)
	if names, err := fs.List(dir); err == nil && len(names) > 0 {
		return nil, fmt.Errorf("rebuild catalog: %s is not empty", dir)
	}
	c, err := OpenCatalog(dir, &CatalogOptions{FS: fs})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Catalog, error) {
		c.Close()
		return nil, fmt.Errorf("rebuild catalog: %w", err)
	}
	if err := c.bindRepository(r.ID()); err != nil {
		return fail(err)
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return fail(err)
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i].LSN > to {
			continue
		}
		sd, err := r.readSnapshot(ctx, snaps[i].Name)
		if err != nil {
			return fail(err)
		}
		b := c.db.NewBatch()
		for _, kv := range sd.kvs {
			if err := b.Set(kv[0], kv[1], nil); err != nil {
				return fail(err)
			}
		}
		if err := b.Set(metaPosition, mustMarshal(sd.pos), nil); err != nil {
			return fail(err)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			return fail(err)
		}
		break
	}
	if err := c.applyUpTo(ctx, r, to); err != nil {
		return fail(err)
	}
	if err := c.indexBlobs(ctx, r); err != nil {
		return fail(err)
	}
	return c, nil
}

// applyUpTo is catchUp bounded by an LSN.
func (c *Catalog) applyUpTo(ctx context.Context, r *Repository, to uint64) error {
	if to == ^uint64(0) {
		_, err := c.catchUp(ctx, r)
		return err
	}
	pos, err := c.position(c.db)
	if err != nil {
		return err
	}
	tx := c.newTxn()
	defer tx.b.Close()
	err = r.replay(ctx, pos, to, func(rec redolog.Record, scanTime int64) error {
		if err := tx.apply(rec); err != nil {
			return err
		}
		pos = position{LSN: rec.LSN, ScanTime: scanTime, Time: rec.Time}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.set(metaPosition, pos); err != nil {
		return err
	}
	return tx.b.Commit(pebble.Sync)
}

// indexBlobs records which blobs the repository holds (loose or packed),
// counting only blobs a version references: those were durable before the
// segment that references them was shipped. An unreferenced loose blob may
// be one the scanner stored without fsync just before a crash
// (putBlobDeferred), possibly torn; leaving it out makes the scanner store
// it again when it meets it.
func (c *Catalog) indexBlobs(ctx context.Context, r *Repository) error {
	held, err := r.blobSizes(ctx)
	if err != nil {
		return err
	}
	b := c.db.NewBatch()
	for d, size := range held {
		if _, ok, err := getValue(c.db, append([]byte{pRef}, d[:]...)); err != nil {
			return err
		} else if !ok {
			continue
		}
		if err := b.Set(append([]byte{pBlob}, d[:]...), mustMarshal(blobRec{Stored: size}), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func parseBlobObject(name string) ([32]byte, bool) {
	var d [32]byte
	rest, ok := strings.CutPrefix(name, blobPrefix)
	if !ok || len(rest) != 3+64 || rest[2] != '/' || rest[:2] != rest[3:5] {
		return d, false
	}
	for i := 0; i < 32; i++ {
		v, err := strconv.ParseUint(rest[3+2*i:5+2*i], 16, 8)
		if err != nil {
			return d, false
		}
		d[i] = byte(v)
	}
	return d, true
}
