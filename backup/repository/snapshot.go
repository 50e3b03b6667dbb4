package repository

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/hsm"
)

// Snapshot names: catalog/<020d lsn>-<020d unix ns>.snap.zst. The time part
// keeps two snapshots at one LSN (a purge with no new records) apart, so no
// object is ever rewritten.
func SnapshotObjName(lsn uint64, t int64) string {
	return fmt.Sprintf("%s%020d-%020d%s", SnapPrefix, lsn, t, snapSuffix)
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
	err := r.vol.List(ctx, SnapPrefix, func(o hsm.ObjectInfo) error {
		if l, t, ok := parsePair(o.Name, SnapPrefix, snapSuffix); ok {
			out = append(out, SnapshotInfo{Name: o.Name, LSN: l, Time: time.Unix(0, int64(t)).UTC(), Size: o.Size})
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

// snapshotData is a decoded snapshot.
type snapshotData struct {
	Pos    Position
	config ConfigSnapshot
	KVs    [][2][]byte
}

func (r *Repository) ReadSnapshot(ctx context.Context, name string) (snapshotData, error) {
	var sd snapshotData
	b, err := hsm.ReadAll(ctx, r.vol, name)
	if err != nil {
		return sd, fmt.Errorf("read %s: %w", name, err)
	}
	h, body, err := decodeObject(b)
	if err == nil && h.Kind != KindSnapshot {
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
		if uerr := cborDec.Unmarshal(p, &sd.Pos); uerr != nil {
			err = fmt.Errorf("%w: snapshot position: %v", ErrCorrupt, uerr)
		}
	}
	for err == nil && len(body) > 0 {
		var k, v []byte
		if k, body, err = readUvarintBytes(body); err == nil {
			v, body, err = readUvarintBytes(body)
			sd.KVs = append(sd.KVs, [2][]byte{k, v})
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
	sd, err := r.ReadSnapshot(ctx, snaps[best].Name)
	return sd.config, snaps[best].Time, err
}

func ParseBlobObject(name string) ([32]byte, bool) {
	var d [32]byte
	rest, ok := strings.CutPrefix(name, BlobPrefix)
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

// ConfigSnapshot is the server configuration stored with each catalog
// snapshot, for `tidemark backup config --at T`.
type ConfigSnapshot struct {
	TOML         []byte // tidemark.toml as on disk
	Provisioning []byte // domains, classes of service, accounts (JSON from the wiring)
}
