package restore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/redolog"
)

// placement is where a whole-server restore puts each blob: on the volume
// the history leaves it on (a blob-first MessageAdded names its volume, a
// BlobMoved moves it) when the history registered that volume, else on the
// primary. The volumes come from the
// history's own registry (VolumeCreated, VolumeModified), so a server
// whose blobs were spread over several volumes is rebuilt with each blob
// where the rebuilt state says it is.
type placement struct {
	primaryName string
	primary     hsm.Volume
	where       map[dedup.Digest]string
	vols        map[string]hsm.Volume
	thresholds  map[string]int
	specs       map[string]hsm.Spec // every volume the history registered
	opened      []hsm.Volume
}

// registered reports whether the history registered a volume of that name.
func (p *placement) registered(name string) bool {
	_, ok := p.specs[name]
	return ok
}

// placements reads the history up to atNs once and opens every volume a
// blob ends on.
func placements(ctx context.Context, repo *repository.Repository, atNs int64, primaryName string, primary hsm.Volume, open hsm.Opener) (*placement, error) {
	p := &placement{primaryName: primaryName, primary: primary, where: map[dedup.Digest]string{},
		vols: map[string]hsm.Volume{}, thresholds: map[string]int{}}
	specs := map[string]hsm.Spec{}
	p.specs = specs
	err := repo.Records(ctx, 1, 0, func(rec redolog.Record) error {
		if rec.Time > atNs {
			return errStop
		}
		switch event.Type(rec.Type) {
		case event.TypeMessageAdded, event.TypeBlobMoved, event.TypeVolumeCreated, event.TypeVolumeModified:
		default:
			return nil
		}
		ev, err := event.Decode(event.Type(rec.Type), rec.Payload)
		if err != nil {
			return fmt.Errorf("record %d: %w", rec.LSN, err)
		}
		switch e := ev.(type) {
		case event.MessageAdded:
			if e.Volume != "" {
				p.where[dedup.Digest(e.Digest)] = e.Volume
			}
		case event.BlobMoved:
			p.where[dedup.Digest(e.Digest)] = e.To
		case event.VolumeCreated:
			specs[e.Volume.Name] = volumeSpec(e.Volume)
		case event.VolumeModified:
			specs[e.Volume.Name] = volumeSpec(e.Volume)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("restore server: read repository: %w", err)
	}
	for d, name := range p.where {
		if name == primaryName {
			delete(p.where, d)
			continue
		}
		if _, ok := p.vols[name]; ok {
			continue
		}
		s, ok := specs[name]
		if !ok {
			// A volume given to the server outside the registry: its
			// blobs come back on the primary (toPrimary rewrites the
			// records that name it).
			delete(p.where, d)
			continue
		}
		v, err := open(ctx, s)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("restore server: volume %s: %w", name, err)
		}
		p.opened = append(p.opened, v)
		p.vols[name] = v
		p.thresholds[name] = s.CompressThreshold()
	}
	return p, nil
}

// target is the volume a blob goes to and the compression threshold there.
func (p *placement) target(d dedup.Digest, primaryThreshold int) (hsm.Volume, int) {
	if name, ok := p.where[d]; ok {
		return p.vols[name], p.thresholds[name]
	}
	return p.primary, primaryThreshold
}

func (p *placement) close() {
	for _, v := range p.opened {
		closeVolume(v)
	}
	p.opened = nil
}

func closeVolume(v hsm.Volume) {
	if c, ok := v.(io.Closer); ok {
		_ = c.Close()
	}
}

func volumeSpec(v event.Volume) hsm.Spec {
	s := hsm.Spec{Name: v.Name, Kind: v.Kind, Type: v.Type, Path: v.Path, Layout: v.Layout,
		Compress: v.Compress, Threshold: v.Threshold}
	if v.S3 != nil {
		s.S3 = &hsm.S3Spec{Endpoint: v.S3.Endpoint, Region: v.S3.Region, Bucket: v.S3.Bucket, Prefix: v.S3.Prefix,
			StorageClass: v.S3.StorageClass, TLS: v.S3.TLS}
	}
	return s
}
