package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/redolog"
)

// openEngine opens the engine on dataDir with the configuration's storage
// settings; tune, if given, adjusts the options first (serve's metrics
// hooks).
func openEngine(dataDir string, cfg config, log *slog.Logger, safeLSN func() uint64, tune ...func(*engine.Options)) (*engine.Engine, error) {
	opts := engineOptions(dataDir, cfg, log, safeLSN)
	for _, f := range tune {
		f(opts)
	}
	eng, err := engine.Open(dataDir, opts)
	var behind *engine.LogBehindError
	if errors.As(err, &behind) {
		return nil, fmt.Errorf("open %s: %w\nwith the server stopped, run: tidemark redolog repair --data %s", dataDir, err, dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dataDir, err)
	}
	return eng, nil
}

// engineOptions are the engine options of the configuration's storage
// settings.
func engineOptions(dataDir string, cfg config, log *slog.Logger, safeLSN func() uint64) *engine.Options {
	opts := &engine.Options{
		OpenVolume:         volumeOpener(dataDir, cfg.Storage.S3CacheBytes, log),
		Now:                time.Now,
		Logger:             log,
		SafeLSN:            safeLSN,
		PrimaryName:        cfg.Storage.PrimaryVolume,
		InlineBlobMax:      cfg.Storage.InlineBlobMax,
		CompressThreshold:  cfg.Storage.CompressThreshold,
		MaxMessageSize:     cfg.Storage.MaxMessageSize,
		MaxFolderDepth:     cfg.Storage.MaxFolderDepth,
		MaxFolders:         cfg.Storage.MaxFolders,
		PebbleCacheSize:    cfg.Storage.MetaCacheBytes,
		PebbleMemTableSize: cfg.Storage.MetaMemtableBytes,
		HeaderCacheSize:    cfg.Storage.HeaderCacheBytes,
	}
	opts.RedoLog.SegmentSize = cfg.Storage.RedoSegmentSize
	if cfg.Storage.RedoSync == "delayed" {
		opts.RedoLog.Sync = redolog.SyncDelayed
	}
	return opts
}

// openEngineForAdmin opens the data directory for a one-off command when no
// server is running.
func openEngineForAdmin(dataDir string) (*engine.Engine, config, error) {
	cfg, _, err := loadConfig(dataDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, cfg, fmt.Errorf("%s is not a tidemark data directory (run tidemark init or tidemark serve first)", dataDir)
		}
		return nil, cfg, err
	}
	log := newLogger(os.Stderr, slog.LevelWarn)
	eng, err := openEngine(dataDir, cfg, log, nil)
	if errors.Is(err, engine.ErrLocked) {
		return nil, cfg, heldError(dataDir, err)
	}
	return eng, cfg, err
}

// heldError says plainly who holds dataDir: a running server (its admin
// socket answers) or another tidemark process that does not answer.
func heldError(dataDir string, err error) error {
	if served, _ := callServer(context.Background(), dataDir, "ping", nil, nil); served {
		return fmt.Errorf("a tidemark server is running on %s and holds it; this command needs the server stopped: %w", dataDir, err)
	}
	return fmt.Errorf("%s is in use by another tidemark process whose admin socket does not answer; stop it or wait for it to finish: %w", dataDir, err)
}
