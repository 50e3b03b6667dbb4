// Package volopen opens local volumes from their registry spec (hsm.Spec):
// it is the one place that knows the local layouts (hsm/packvol,
// hsm/localvol) and where a volume lives in the data directory. The engine
// and restore use it only when the composition root gives no opener of its
// own; the server's opener (cmd/tidemark) adds S3 volumes, which need
// credentials, on top of it.
package volopen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/packvol"
	"github.com/tidemark/tidemark/internal/datadir"
)

// Env is what opening a local volume needs.
type Env struct {
	FS      vfs.FS // default vfs.Default
	DataDir string
	Now     func() time.Time
	Logger  *slog.Logger
}

// Local returns an opener of local volumes in env. It refuses S3 specs.
func Local(env Env) hsm.Opener {
	if env.FS == nil {
		env.FS = vfs.Default
	}
	return func(ctx context.Context, s hsm.Spec) (hsm.Volume, error) {
		if s.Type != hsm.TypeLocal {
			return nil, fmt.Errorf("volume %s: type %q cannot be opened here (S3 volumes are opened by the server, which has their keys)", s.Name, s.Type)
		}
		return OpenLocal(env, s)
	}
}

// Dir returns where a local volume lives.
func Dir(env Env, s hsm.Spec) string { return datadir.VolumePath(env.DataDir, s.Name, s.Path) }

// Layout decides the layout of a local volume's directory: the spec's when
// set; else a directory holding packs/ is a pack volume, one holding
// anything else (blobs/...) a file-per-blob volume, as every data
// directory made before pack volumes; a missing or empty one gets def.
func Layout(env Env, s hsm.Spec, def string) (string, error) {
	if s.Layout != "" {
		return s.Layout, nil
	}
	if env.FS == nil {
		env.FS = vfs.Default
	}
	names, err := env.FS.List(Dir(env, s))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(names) == 0) {
		return def, nil
	}
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if n == packvol.PacksDir {
			return hsm.LayoutPack, nil
		}
	}
	return hsm.LayoutFile, nil
}

// OpenLocal opens a local volume in the layout Layout gives (LayoutPack for
// a new one). A pack volume must be closed (io.Closer).
func OpenLocal(env Env, s hsm.Spec) (hsm.Volume, error) {
	if env.FS == nil {
		env.FS = vfs.Default
	}
	layout, err := Layout(env, s, hsm.LayoutPack)
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", s.Name, err)
	}
	dir := Dir(env, s)
	switch layout {
	case hsm.LayoutFile:
		v, err := localvol.New(env.FS, dir, nil)
		if err != nil {
			return nil, err
		}
		return v, nil
	case hsm.LayoutPack:
		v, err := packvol.New(env.FS, dir, &packvol.Options{Now: env.Now, Logger: env.Logger})
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("volume %s: unknown layout %q (want %q or %q)", s.Name, layout, hsm.LayoutPack, hsm.LayoutFile)
}
