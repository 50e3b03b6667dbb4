package catalog

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/internal/vfsutil"
	"github.com/tidemark/tidemark/redolog"
)

// WriteSnapshot stores the catalog (minus the per-copy B and M keys) with
// its position and cfg. Callers hold c.mu or otherwise keep writers out.
func (c *Catalog) WriteSnapshot(ctx context.Context, r *repository.Repository, cfg repository.ConfigSnapshot, now int64) (string, error) {
	pos, err := c.position(c.db)
	if err != nil {
		return "", err
	}
	body := repository.AppendUvarintBytes(nil, cfg.TOML)
	body = repository.AppendUvarintBytes(body, cfg.Provisioning)
	body = repository.AppendUvarintBytes(body, repository.MustMarshal(pos))
	snap := c.db.NewSnapshot()
	defer snap.Close()
	if err := scanPrefixRange(snap, nil, func(k, v []byte) error {
		if k[0] == pBlob || k[0] == pMeta {
			return nil
		}
		body = repository.AppendUvarintBytes(body, k)
		body = repository.AppendUvarintBytes(body, v)
		return nil
	}); err != nil {
		return "", err
	}
	if now <= pos.Time {
		now = pos.Time + 1
	}
	obj := repository.EncodeObject(repository.Header{Kind: repository.KindSnapshot, First: pos.LSN, Last: pos.LSN, FirstTime: pos.Time, LastTime: now}, body)
	name := repository.SnapshotObjName(pos.LSN, now)
	if err := r.PutObject(ctx, name, obj); err != nil {
		return "", fmt.Errorf("put snapshot: %w", err)
	}
	return name, nil
}

// Rebuild makes a catalog in dir (which must not hold one) from the
// repository alone: the newest snapshot, then every segment and scan after
// it, then the list of stored blobs.
func Rebuild(ctx context.Context, r *repository.Repository, dir string, fs vfs.FS) (*Catalog, error) {
	return rebuildTo(ctx, r, dir, fs, ^uint64(0))
}

// SnapshotAt builds, in dir, the catalog as it stood at lsn: from the
// newest snapshot at or before lsn plus the records up to lsn. Restore uses
// it to start a disaster recovery from a known state.
func SnapshotAt(ctx context.Context, r *repository.Repository, dir string, fs vfs.FS, lsn uint64) (*Catalog, error) {
	return rebuildTo(ctx, r, dir, fs, lsn)
}

func rebuildTo(ctx context.Context, r *repository.Repository, dir string, fs vfs.FS, to uint64) (*Catalog, error) {
	if fs == nil {
		fs = vfs.Default
	}
	fs = vfsutil.Private(fs)
	if names, err := fs.List(dir); err == nil && len(names) > 0 {
		return nil, fmt.Errorf("rebuild catalog: %s is not empty", dir)
	}
	c, err := Open(dir, &Options{FS: fs})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Catalog, error) {
		c.Close()
		return nil, fmt.Errorf("rebuild catalog: %w", err)
	}
	if err := c.BindRepository(r.ID()); err != nil {
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
		sd, err := r.ReadSnapshot(ctx, snaps[i].Name)
		if err != nil {
			return fail(err)
		}
		b := c.db.NewBatch()
		for _, kv := range sd.KVs {
			if err := b.Set(kv[0], kv[1], nil); err != nil {
				return fail(err)
			}
		}
		if err := b.Set(metaPosition, repository.MustMarshal(sd.Pos), nil); err != nil {
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

// applyUpTo is CatchUp bounded by an LSN.
func (c *Catalog) applyUpTo(ctx context.Context, r *repository.Repository, to uint64) error {
	if to == ^uint64(0) {
		_, err := c.CatchUp(ctx, r)
		return err
	}
	pos, err := c.position(c.db)
	if err != nil {
		return err
	}
	tx := c.NewTxn()
	defer tx.b.Close()
	err = r.Replay(ctx, pos, to, func(rec redolog.Record, scanTime int64) error {
		if err := tx.Apply(rec); err != nil {
			return err
		}
		pos = repository.Position{LSN: rec.LSN, ScanTime: scanTime, Time: rec.Time}
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
// (PutBlobDeferred), possibly torn; leaving it out makes the scanner store
// it again when it meets it.
func (c *Catalog) indexBlobs(ctx context.Context, r *repository.Repository) error {
	held, err := r.BlobSizes(ctx)
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
		if err := b.Set(append([]byte{pBlob}, d[:]...), repository.MustMarshal(BlobRec{Stored: size}), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}
