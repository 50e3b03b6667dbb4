package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/volopen"
)

// The volume registry: every volume is a VolumeCreated record in the redo
// log, so recovery, restore server and the backup know every volume and,
// with BlobMoved, where every blob lives. Projection keys (table 0x01):
//
//	0x01 "vol/" name        -> volRec
//	0x01 "current/" kind    -> name   the current primary or secondary
//	0x01 "hsmpolicy"        -> policyRec
var (
	keyVolPrefix     = append([]byte{tMeta}, "vol/"...)
	keyCurrentPrefix = append([]byte{tMeta}, "current/"...)
	keyPolicy        = append([]byte{tMeta}, "hsmpolicy"...)
)

func volKey(name string) []byte     { return append(append([]byte(nil), keyVolPrefix...), name...) }
func currentKey(kind string) []byte { return append(append([]byte(nil), keyCurrentPrefix...), kind...) }

// volRec is a registered volume.
type volRec struct {
	V event.Volume `cbor:"1,keyasint"`
}

type policyRec struct {
	Lines []string `cbor:"1,keyasint,omitempty"`
}

// VolumeInfo is a registered volume and whether it is the current one of
// its kind.
type VolumeInfo struct {
	hsm.Spec
	Current bool `json:"current"`
}

func specOf(v event.Volume) hsm.Spec {
	s := hsm.Spec{Name: v.Name, Kind: v.Kind, Type: v.Type, Path: v.Path, Layout: v.Layout,
		Compress: v.Compress, Threshold: v.Threshold}
	if v.S3 != nil {
		s.S3 = &hsm.S3Spec{Endpoint: v.S3.Endpoint, Region: v.S3.Region, Bucket: v.S3.Bucket, Prefix: v.S3.Prefix,
			StorageClass: v.S3.StorageClass, TLS: v.S3.TLS}
	}
	return s
}

func eventOf(s hsm.Spec) event.Volume {
	v := event.Volume{Name: s.Name, Kind: s.Kind, Type: s.Type, Path: s.Path, Layout: s.Layout,
		Compress: s.Compress, Threshold: s.Threshold}
	if s.S3 != nil {
		v.S3 = &event.VolumeS3{Endpoint: s.S3.Endpoint, Region: s.S3.Region, Bucket: s.S3.Bucket, Prefix: s.S3.Prefix,
			StorageClass: s.S3.StorageClass, TLS: s.S3.TLS}
	}
	return v
}

// loadRegistry reads every registered volume and the current names.
func loadRegistry(r reader) (map[string]hsm.Spec, map[string]string, error) {
	specs := map[string]hsm.Spec{}
	err := scan(r, keyVolPrefix, func(_, v []byte) error {
		var vr volRec
		if err := decVal(v, &vr); err != nil {
			return err
		}
		specs[vr.V.Name] = specOf(vr.V)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	cur := map[string]string{}
	err = scan(r, keyCurrentPrefix, func(k, v []byte) error {
		cur[string(k[len(keyCurrentPrefix):])] = string(v)
		return nil
	})
	return specs, cur, err
}

func (tx *txn) applyVolume(v event.Volume, create bool) error {
	ok, err := getVal(tx.b, volKey(v.Name), &volRec{})
	if err != nil {
		return err
	}
	if create == ok {
		if create {
			return fmt.Errorf("%w: volume %s created twice", ErrCorrupt, v.Name)
		}
		return fmt.Errorf("%w: modify of unknown volume %s", ErrCorrupt, v.Name)
	}
	tx.set(volKey(v.Name), encVal(volRec{V: v}))
	return nil
}

func (tx *txn) applyVolumeDeleted(name string) error {
	tx.del(volKey(name))
	for _, kind := range []string{hsm.KindPrimary, hsm.KindSecondary} {
		cur, _, err := getCurrent(tx.b, kind)
		if err != nil {
			return err
		}
		if cur == name {
			tx.del(currentKey(kind))
		}
	}
	return nil
}

// localEnv is how the engine's default opener opens local volumes.
func (e *Engine) localEnv() volopen.Env {
	return volopen.Env{FS: e.fs, DataDir: e.dir, Now: e.opts.Now, Logger: e.opts.Logger}
}

// openVolumes opens the primary: Options.Primary when given; else the
// registry's current primary, or for a data directory whose primary is not
// registered yet (made before the registry, or new) the local volume at
// <data>/volumes/<PrimaryName>, which Open then registers. Other volumes
// open when first used (volume).
func (e *Engine) openVolumes(ctx context.Context) error {
	o := &e.opts
	e.opener = o.OpenVolume
	if e.opener == nil {
		e.opener = volopen.Local(e.localEnv())
	}
	e.volumes = map[string]hsm.Volume{}
	for name, v := range o.Volumes {
		e.volumes[name] = v
	}
	var primary hsm.Volume
	if o.Primary != nil {
		primary = o.Primary
	} else {
		e.livePrimary = true
		specs, cur, err := loadRegistry(e.db)
		if err != nil {
			return fmt.Errorf("engine: read volume registry: %w", err)
		}
		name := cur[hsm.KindPrimary]
		spec, ok := specs[name]
		if name == "" || !ok {
			name = o.PrimaryName
			spec = hsm.Spec{Name: name, Kind: hsm.KindPrimary, Type: hsm.TypeLocal,
				Compress: o.CompressThreshold >= 0, Threshold: max(o.CompressThreshold, 0)}
			if spec.Layout, err = volopen.Layout(e.localEnv(), spec, o.PrimaryLayout); err != nil {
				return fmt.Errorf("engine: open primary volume: %w", err)
			}
			e.registerPrimary = &spec
		} else {
			o.PrimaryName = name
			o.CompressThreshold = spec.CompressThreshold()
		}
		v, err := e.opener(ctx, spec)
		if err != nil {
			return fmt.Errorf("engine: open primary volume %s: %w", name, err)
		}
		if c, ok := v.(io.Closer); ok {
			e.owned = append(e.owned, c)
		}
		primary = v
	}
	e.volumes[o.PrimaryName] = primary
	e.setPrimary(newPrimaryState(o.PrimaryName, primary, o.CompressThreshold))
	return nil
}

// register records the primary volume the engine opened for a data
// directory whose registry was empty.
func (e *Engine) register(ctx context.Context) error {
	s := e.registerPrimary
	if s == nil {
		return nil
	}
	// Replay may have brought the registry (a projection rebuilt from the
	// log): then it is there already.
	if _, cur, err := loadRegistry(e.db); err != nil {
		return err
	} else if cur[hsm.KindPrimary] != "" {
		return nil
	}
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, volKey(s.Name), &volRec{}); err != nil || ok {
			return nil, nil, err
		}
		return event.VolumeCreated{Volume: eventOf(*s)}, nil, nil
	})
	if err != nil {
		return fmt.Errorf("engine: register primary volume: %w", err)
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		return event.VolumeCurrentSet{Kind: hsm.KindPrimary, Name: s.Name}, nil, nil
	})
	if err != nil {
		return fmt.Errorf("engine: register primary volume: %w", err)
	}
	return nil
}

// volume returns the volume named name, opening a registered one on first
// use.
func (e *Engine) volume(ctx context.Context, name string) (hsm.Volume, error) {
	e.volMu.RLock()
	v := e.volumes[name]
	e.volMu.RUnlock()
	if v != nil {
		return v, nil
	}
	var vr volRec
	ok, err := getVal(e.db, volKey(name), &vr)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("engine: volume %q is not registered", name)
	}
	return e.openSpec(ctx, specOf(vr.V))
}

// openSpec returns the volume of a registered spec, opening it on first
// use.
func (e *Engine) openSpec(ctx context.Context, s hsm.Spec) (hsm.Volume, error) {
	name := s.Name
	e.volMu.Lock()
	defer e.volMu.Unlock()
	if v := e.volumes[name]; v != nil {
		return v, nil
	}
	v, err := e.opener(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("engine: open volume %s: %w", name, err)
	}
	if c, ok := v.(io.Closer); ok {
		e.owned = append(e.owned, c)
	}
	e.volumes[name] = v
	return v, nil
}

// Volumes lists the registered volumes by name.
func (e *Engine) Volumes(ctx context.Context) ([]VolumeInfo, error) {
	specs, cur, err := loadRegistry(e.db)
	if err != nil {
		return nil, err
	}
	out := make([]VolumeInfo, 0, len(specs))
	for _, s := range specs {
		out = append(out, VolumeInfo{Spec: s, Current: cur[s.Kind] == s.Name})
	}
	slices.SortFunc(out, func(a, b VolumeInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// VolumeInfo returns one registered volume.
func (e *Engine) Volume(ctx context.Context, name string) (VolumeInfo, error) {
	vs, err := e.Volumes(ctx)
	if err != nil {
		return VolumeInfo{}, err
	}
	for _, v := range vs {
		if v.Name == name {
			return v, nil
		}
	}
	return VolumeInfo{}, notFoundf("volume %s", name)
}

// CurrentVolume names the current volume of a kind ("" if none).
func (e *Engine) CurrentVolume(kind string) (string, error) {
	_, cur, err := loadRegistry(e.db)
	return cur[kind], err
}

// PrimaryName names the volume new blobs go to now.
func (e *Engine) PrimaryName() string { return e.prim().name }

// CreateVolume registers a volume after opening it, so a volume that
// cannot be opened (a directory that cannot be made, S3 settings without
// keys) is refused before anything is recorded.
func (e *Engine) CreateVolume(ctx context.Context, s hsm.Spec) error {
	if err := s.Validate(); err != nil {
		return invalidf("%v", err)
	}
	if _, err := e.Volume(ctx, s.Name); err == nil {
		return existsf("volume %s", s.Name)
	}
	if s.Type == hsm.TypeLocal && s.Layout == "" {
		l, err := volopen.Layout(e.localEnv(), s, hsm.LayoutPack)
		if err != nil {
			return err
		}
		s.Layout = l
	}
	if err := e.checkPathFree(ctx, s); err != nil {
		return err
	}
	e.volMu.Lock()
	_, open := e.volumes[s.Name]
	e.volMu.Unlock()
	if !open {
		v, err := e.opener(ctx, s)
		if err != nil {
			return fmt.Errorf("open volume %s: %w", s.Name, err)
		}
		e.volMu.Lock()
		if c, ok := v.(io.Closer); ok {
			e.owned = append(e.owned, c)
		}
		e.volumes[s.Name] = v
		e.volMu.Unlock()
	}
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, volKey(s.Name), &volRec{}); err != nil || ok {
			if err == nil {
				err = existsf("volume %s", s.Name)
			}
			return nil, nil, err
		}
		return event.VolumeCreated{Volume: eventOf(s)}, nil, nil
	})
	return err
}

// checkPathFree refuses a local volume whose directory another registered
// volume uses.
func (e *Engine) checkPathFree(ctx context.Context, s hsm.Spec) error {
	if s.Type != hsm.TypeLocal {
		return nil
	}
	vs, err := e.Volumes(ctx)
	if err != nil {
		return err
	}
	dir := volopen.Dir(e.localEnv(), s)
	for _, v := range vs {
		if v.Name != s.Name && v.Type == hsm.TypeLocal && volopen.Dir(e.localEnv(), v.Spec) == dir {
			return invalidf("volume %s: directory %s is volume %s's", s.Name, dir, v.Name)
		}
	}
	return nil
}

// ModifyVolume changes a volume's kind, compression, S3 storage class,
// region or TLS. Where it is (type, path, layout, endpoint,
// bucket, prefix) cannot change: its blobs are there. The current primary
// stays a primary.
func (e *Engine) ModifyVolume(ctx context.Context, s hsm.Spec) error {
	if err := s.Validate(); err != nil {
		return invalidf("%v", err)
	}
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		var vr volRec
		ok, err := getVal(tx.b, volKey(s.Name), &vr)
		if err != nil || !ok {
			if err == nil {
				err = notFoundf("volume %s", s.Name)
			}
			return nil, nil, err
		}
		old := specOf(vr.V)
		if s.Layout == "" {
			s.Layout = old.Layout
		}
		if old.Type != s.Type || old.Path != s.Path || old.Layout != s.Layout {
			return nil, nil, invalidf("volume %s: type, path and layout cannot change", s.Name)
		}
		if old.S3 != nil && (old.S3.Endpoint != s.S3.Endpoint || old.S3.Bucket != s.S3.Bucket || old.S3.Prefix != s.S3.Prefix) {
			return nil, nil, invalidf("volume %s: endpoint, bucket and prefix cannot change", s.Name)
		}
		if old.Kind != s.Kind {
			if cur, _, err := getCurrent(tx.b, old.Kind); err != nil {
				return nil, nil, err
			} else if cur == s.Name {
				return nil, nil, invalidf("volume %s is the current %s: make another volume current first", s.Name, old.Kind)
			}
		}
		return event.VolumeModified{Volume: eventOf(s)}, nil, nil
	})
	return err
}

func getCurrent(r reader, kind string) (string, bool, error) {
	v, c, err := r.Get(currentKey(kind))
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return "", false, nil
		}
		return "", false, err
	}
	defer c.Close()
	return string(v), true, nil
}

// DeleteVolume removes a volume from the registry: only an empty one (no
// blob record names it, no moved blob's old copy waits to be deleted from
// it) that is not the current primary. Its directory or bucket is left as
// it is.
func (e *Engine) DeleteVolume(ctx context.Context, name string) error {
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		if ok, err := getVal(tx.b, volKey(name), &volRec{}); err != nil || !ok {
			if err == nil {
				err = notFoundf("volume %s", name)
			}
			return nil, nil, err
		}
		if cur, _, err := getCurrent(tx.b, hsm.KindPrimary); err != nil {
			return nil, nil, err
		} else if cur == name || name == tx.primary().name {
			return nil, nil, invalidf("volume %s is the current primary: it cannot be deleted", name)
		}
		n, err := blobsOn(tx.b, name)
		if err != nil {
			return nil, nil, err
		}
		if n > 0 {
			return nil, nil, wrapNotEmpty("volume %s still holds %d blob(s): move them first (tidemark hsm move-volume)", name, n)
		}
		return event.VolumeDeleted{Name: name}, nil, nil
	})
	if err == nil {
		e.volMu.Lock()
		delete(e.volumes, name)
		e.volMu.Unlock()
	}
	return err
}

// blobsOn counts the blob records on a volume and the old copies waiting
// there for deletion.
func blobsOn(r reader, name string) (int, error) {
	n := 0
	err := scan(r, []byte{tBlob}, func(_, v []byte) error {
		var br blobRec
		if err := decVal(v, &br); err != nil {
			return err
		}
		if br.Volume == name {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	err = scan(r, []byte{tMoveDrop}, func(_, v []byte) error {
		if string(v) == name {
			n++
		}
		return nil
	})
	return n, err
}

// SetCurrentVolume makes a volume the current one of its kind. A new
// current secondary is where the next HSM move goes. A new current primary
// receives new blobs as soon as the record is committed
// (primaryswitch.go): blobs being written to the old one finish there and
// are recorded there, and blobs on it stay readable. The volume is opened
// first, so one that cannot be opened is refused with nothing recorded.
func (e *Engine) SetCurrentVolume(ctx context.Context, name string) error {
	info, err := e.Volume(ctx, name)
	if err != nil {
		return err
	}
	if info.Kind == hsm.KindPrimary {
		if _, err := e.volume(ctx, name); err != nil {
			return err
		}
	}
	_, err = e.do(ctx, func(tx *txn) (event.Event, any, error) {
		var vr volRec
		ok, err := getVal(tx.b, volKey(name), &vr)
		if err != nil || !ok {
			if err == nil {
				err = notFoundf("volume %s", name)
			}
			return nil, nil, err
		}
		return event.VolumeCurrentSet{Kind: vr.V.Kind, Name: name}, nil, nil
	})
	return err
}

// Policy returns the HSM policy lines recorded (nil: none set).
func (e *Engine) Policy(ctx context.Context) ([]string, bool, error) {
	var p policyRec
	ok, err := getVal(e.db, keyPolicy, &p)
	return p.Lines, ok, err
}

// SetPolicy records the HSM policy. check validates the lines (the engine
// does not know the grammar); an invalid policy records nothing.
func (e *Engine) SetPolicy(ctx context.Context, lines []string, check func([]string) error) error {
	if check != nil {
		if err := check(lines); err != nil {
			return invalidf("%v", err)
		}
	}
	_, err := e.do(ctx, func(tx *txn) (event.Event, any, error) {
		return event.HSMPolicySet{Lines: lines}, nil, nil
	})
	return err
}

// VolumeStats is one volume's usage.
type VolumeStats struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Type        string `json:"type"`
	Current     bool   `json:"current"`
	Blobs       int64  `json:"blobs"`        // referenced blobs the state places there
	Bytes       int64  `json:"bytes"`        // their raw bytes
	StoredBytes int64  `json:"stored_bytes"` // bytes of the blob objects on the volume (compressed ones smaller)
	Objects     int64  `json:"objects"`      // blob objects on the volume (old copies and orphans included)
	FreeBytes   int64  `json:"free_bytes"`   // free space where it stores; -1 unknown
	Error       string `json:"error,omitempty"`
}

// VolumeStats reports every registered volume's usage: blob counts and raw
// bytes from the state, stored bytes and objects by listing the volume, and
// the free space of a local volume's file system. A volume that cannot be
// read (S3 unreachable) has its error instead of the listed figures.
func (e *Engine) VolumeStats(ctx context.Context) ([]VolumeStats, error) {
	vs, err := e.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	out := make([]VolumeStats, len(vs))
	for i, v := range vs {
		out[i] = VolumeStats{Name: v.Name, Kind: v.Kind, Type: v.Type, Current: v.Current, FreeBytes: -1}
		idx[v.Name] = i
	}
	err = e.Blobs(ctx, func(b BlobLocation) error {
		if i, ok := idx[b.Volume]; ok {
			out[i].Blobs++
			out[i].Bytes += b.Size
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		vol, err := e.volume(ctx, v.Name)
		if err == nil {
			err = vol.List(ctx, "blobs/", func(oi hsm.ObjectInfo) error {
				out[i].Objects++
				out[i].StoredBytes += oi.Size
				return nil
			})
		}
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		if sr, ok := vol.(hsm.SpaceReporter); ok {
			if f, err := sr.FreeBytes(ctx); err == nil {
				out[i].FreeBytes = f
			}
		} else if v.Type == hsm.TypeLocal {
			if du, err := e.fs.GetDiskUsage(volopen.Dir(e.localEnv(), v.Spec)); err == nil {
				out[i].FreeBytes = int64(du.AvailBytes)
			}
		}
	}
	return out, nil
}
