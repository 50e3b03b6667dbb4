package hsm

import (
	"context"
	"fmt"
	"strings"
)

// Kinds of volume: a primary receives new blobs, a secondary is the target
// of HSM moves.
const (
	KindPrimary   = "primary"
	KindSecondary = "secondary"
)

// Types of volume.
const (
	TypeLocal = "local" // a directory (hsm/packvol or hsm/localvol)
	TypeS3    = "s3"    // a bucket and prefix (hsm/s3vol)
)

// Layouts of a local volume.
const (
	LayoutPack = "packvol"  // small blobs packed into append-only files
	LayoutFile = "localvol" // one file per blob
)

// DefaultCompressThreshold is the zstd threshold a volume gets when
// compression is turned on without a threshold (docs/ARCHITECTURE.md,
// "Decisions").
const DefaultCompressThreshold = 4096

// Spec describes one volume of the registry: what the redo log records
// about it. Credentials are never part of it: an S3 volume's keys come from
// the configuration or the environment of the process that opens it.
type Spec struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // KindPrimary or KindSecondary
	Type string `json:"type"` // TypeLocal or TypeS3
	// Path is a local volume's directory; empty means
	// <data>/volumes/<Name>, a relative path is taken from the data
	// directory.
	Path string `json:"path,omitempty"`
	// Layout of a local volume (LayoutPack or LayoutFile); empty: the
	// layout an existing directory has, else LayoutPack.
	Layout string `json:"layout,omitempty"`
	// Compress turns zstd on for blobs written to the volume from
	// Threshold bytes up (a blob of exactly Threshold is compressed).
	Compress  bool    `json:"compress,omitempty"`
	Threshold int     `json:"threshold,omitempty"`
	S3        *S3Spec `json:"s3,omitempty"`
}

// S3Spec locates an S3 volume. The keys are not here (see Spec).
type S3Spec struct {
	Endpoint     string `json:"endpoint"` // host:port
	Region       string `json:"region,omitempty"`
	Bucket       string `json:"bucket"`
	Prefix       string `json:"prefix,omitempty"`
	StorageClass string `json:"storage_class,omitempty"`
	TLS          bool   `json:"tls,omitempty"`
}

// CompressThreshold is the threshold to give dedup.Encode for blobs written
// to the volume: -1 when compression is off.
func (s Spec) CompressThreshold() int {
	if !s.Compress {
		return -1
	}
	if s.Threshold <= 0 {
		return DefaultCompressThreshold
	}
	return s.Threshold
}

// Validate checks a spec's fields, not whether the storage is reachable.
func (s Spec) Validate() error {
	if err := CheckVolumeName(s.Name); err != nil {
		return err
	}
	switch s.Kind {
	case KindPrimary, KindSecondary:
	default:
		return fmt.Errorf("volume %s: kind %q is not %s or %s", s.Name, s.Kind, KindPrimary, KindSecondary)
	}
	if s.Threshold < 0 {
		return fmt.Errorf("volume %s: compression threshold %d is negative", s.Name, s.Threshold)
	}
	switch s.Type {
	case TypeLocal:
		if s.S3 != nil {
			return fmt.Errorf("volume %s: a local volume has no S3 settings", s.Name)
		}
		switch s.Layout {
		case "", LayoutPack, LayoutFile:
		default:
			return fmt.Errorf("volume %s: layout %q is not %s or %s", s.Name, s.Layout, LayoutPack, LayoutFile)
		}
		if strings.ContainsRune(s.Path, 0) {
			return fmt.Errorf("volume %s: path holds a NUL byte", s.Name)
		}
	case TypeS3:
		if s.S3 == nil || s.S3.Endpoint == "" || s.S3.Bucket == "" {
			return fmt.Errorf("volume %s: an S3 volume needs an endpoint and a bucket", s.Name)
		}
		if strings.Contains(s.S3.Endpoint, "://") {
			return fmt.Errorf("volume %s: endpoint %q must be host:port without a scheme", s.Name, s.S3.Endpoint)
		}
		if s.Path != "" || s.Layout != "" {
			return fmt.Errorf("volume %s: an S3 volume has no path or layout", s.Name)
		}
	default:
		return fmt.Errorf("volume %s: type %q is not %s or %s", s.Name, s.Type, TypeLocal, TypeS3)
	}
	return nil
}

// CheckVolumeName accepts names of 1 to 64 letters, digits, '-', '_' and
// '.', not starting with '.'.
func CheckVolumeName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return fmt.Errorf("volume name %q: want 1-64 letters, digits, '-', '_' or '.', not starting with '.'", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("volume name %q: want 1-64 letters, digits, '-', '_' or '.', not starting with '.'", name)
		}
	}
	return nil
}

// Opener opens the volume a spec describes. The composition root provides
// it (it knows the implementations, the data directory and where keys come
// from), so the engine and restore depend on this contract alone. A
// returned volume that implements io.Closer is closed by whoever opened it.
type Opener func(ctx context.Context, s Spec) (Volume, error)

// Compactor is implemented by volumes that reclaim the space of deleted
// objects in the background (hsm/packvol). It is optional.
type Compactor interface {
	// CompactDead rewrites the storage units whose dead fraction reaches
	// minDeadFraction and reports the bytes freed.
	CompactDead(ctx context.Context, minDeadFraction float64) (freed int64, err error)
}

// Checkpointer is implemented by volumes that keep an index they can
// checkpoint so that opening after a crash scans less (hsm/packvol). It is
// optional.
type Checkpointer interface {
	// AppendedBytes grows with every byte written; a caller checkpoints
	// when it has grown enough since the last checkpoint.
	AppendedBytes() int64
	Checkpoint(ctx context.Context) error
}

// SpaceReporter is implemented by volumes that know the free space where
// they store (a local directory's file system). It is optional.
type SpaceReporter interface {
	FreeBytes(ctx context.Context) (int64, error)
}
