package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/datadir"
	"github.com/tidemark/tidemark/internal/vfsutil"
	"github.com/tidemark/tidemark/redolog"
)

// Data directory entries (internal/datadir is the definition).
const (
	RedoDir    = datadir.RedoLog
	MetaDir    = datadir.Meta
	VolumesDir = datadir.Volumes
	LockFile   = datadir.Lock
)

// Engine is an open data directory. All methods are safe for concurrent
// use.
type Engine struct {
	dir  string
	opts Options
	fs   vfs.FS
	lock io.Closer
	log  *redolog.Log
	db   *pebble.DB
	// cur is the primary new blobs go to (primaryswitch.go); livePrimary:
	// it follows the registry's current primary while the engine runs.
	cur         atomic.Pointer[primaryState]
	livePrimary bool
	// opener opens registered volumes (Options.OpenVolume or local ones).
	opener hsm.Opener
	// owned are the volumes the engine opened and closes (a pack volume
	// holds its pack files open); under volMu.
	owned []io.Closer
	// registerPrimary is the primary's spec when the registry had none:
	// Open records it.
	registerPrimary *hsm.Spec
	// packIndexedAt is the bytes covered by the last index checkpoint
	// indexPrimary wrote (under ckMu).
	packIndexedAt  int64
	packIndexedFor string // the primary packIndexedAt counts
	// moveMu keeps MoveBlob (read-locked: moves run side by side) and the
	// deletion of moved blobs' old copies and of orphans (locked) apart
	// (hsmmove.go).
	moveMu sync.RWMutex
	// volDown marks volumes whose delete of a collected blob failed, until
	// when collection leaves them alone (writer goroutine only).
	volDown map[string]time.Time
	volMu   sync.RWMutex
	volumes map[string]hsm.Volume
	// deferredVols are the volumes that have been primary in this process
	// and can defer fsyncs (inline blobs' copies wait for the checkpoint);
	// under volMu.
	deferredVols []hsm.DeferredSyncer
	deferredN    atomic.Int64 // deferred copies written since the last sync
	// copies writes inline blobs' volume copies in the background and
	// serves them until written (copywriter.go).
	copies *copyWriter

	applied    atomic.Uint64 // last LSN applied to Pebble
	checkpoint atomic.Uint64 // last LSN flushed to Pebble with every inline copy up to it durable
	ckMu       sync.Mutex    // serialises checkpoints
	poisoned   atomic.Pointer[error]
	gcGen      atomic.Uint64 // bumped by every collection pass that deletes

	mu     sync.RWMutex // guards closed and sends on cmds
	closed bool
	cmds   chan *command
	gcKick chan struct{}
	ckKick chan struct{} // asks the checkpoint loop for an early checkpoint
	quit   chan struct{}
	wg     sync.WaitGroup

	watch watchers
	auth  *authCache
	dummy dummyHash // verified for unknown users (authcache.go)
	// headers caches parsed message headers (headercache.go); nil when
	// Options.HeaderCacheSize is negative.
	headers *headerCache
}

// Open opens (creating as needed) the data directory: it locks it, opens
// the redo log, Pebble and the primary volume, and replays every record
// after the applied LSN. A directory held by another process gives an error
// wrapping ErrLocked.
func Open(dataDir string, opts *Options) (*Engine, error) {
	o := opts.withDefaults()
	e := &Engine{dir: dataDir, opts: o, fs: o.FS, auth: newAuthCache(o.AuthCacheTTL, o.Now)}
	if o.HeaderCacheSize > 0 {
		e.headers = newHeaderCache(o.HeaderCacheSize)
	}
	if err := vfsutil.MkdirAll(o.FS, dataDir); err != nil {
		return nil, fmt.Errorf("engine: open %s: %w", dataDir, err)
	}
	lock, err := o.FS.Lock(o.FS.PathJoin(dataDir, LockFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dataDir, err)
	}
	e.lock = lock
	ok := false
	defer func() {
		if !ok {
			e.closeStores()
		}
	}()
	e.log, err = redolog.Open(o.FS.PathJoin(dataDir, RedoDir), &o.RedoLog)
	if err != nil {
		if errors.Is(err, redolog.ErrLocked) {
			return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dataDir, err)
		}
		return nil, fmt.Errorf("engine: open redo log: %w", err)
	}
	if err := e.openPebble(); err != nil {
		return nil, err
	}
	if err := e.openVolumes(context.Background()); err != nil {
		return nil, err
	}
	if err := e.recover(); err != nil {
		return nil, err
	}
	e.copies = newCopyWriter(e, o.InlineWriters, o.InlineBacklog)
	e.volMu.Lock()
	for name, v := range e.volumes {
		if pv, ok := v.(primaryView); ok {
			e.volumes[name] = primaryView{pv.Volume, e.copies}
		}
	}
	p := e.prim()
	e.volumes[p.name] = primaryView{p.vol, e.copies}
	e.volMu.Unlock()
	e.cmds = make(chan *command, 4*o.MaxRound)
	e.gcKick = make(chan struct{}, 1)
	e.ckKick = make(chan struct{}, 1)
	e.quit = make(chan struct{})
	e.wg.Add(1)
	go e.run()
	if o.CheckpointInterval > 0 {
		e.wg.Add(1)
		go e.checkpointLoop()
		if e.opts.LogRetention > 0 {
			e.wg.Add(1)
			go e.retentionLoop()
		}
	}
	ok = true
	if err := e.register(context.Background()); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) openPebble() error {
	cache := pebble.NewCache(e.opts.PebbleCacheSize)
	defer cache.Unref()
	po := &pebble.Options{
		FS:           e.fs,
		Cache:        cache,
		DisableWAL:   true, // the redo log is the source of truth (invariant 4)
		MemTableSize: uint64(e.opts.PebbleMemTableSize),
		Logger:       pebbleLogger{e.opts.Logger},
	}
	db, err := pebble.Open(e.fs.PathJoin(e.dir, MetaDir), po)
	if err != nil {
		if errors.Is(err, pebble.ErrDBAlreadyExists) || isLockErr(err) {
			return fmt.Errorf("%w: %v", ErrLocked, err)
		}
		return fmt.Errorf("engine: open pebble: %w", err)
	}
	e.db = db
	return nil
}

func isLockErr(err error) bool { return err != nil && errors.Is(err, vfs.ErrUnsupported) }

// Close stops the writer after the commands already queued, waits for the
// pending inline copies and flushes Pebble (a checkpoint, so the next Open
// replays nothing) and closes the log and the directory lock. Watch channels are closed.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.closed = true
	close(e.cmds)
	close(e.quit)
	e.mu.Unlock()
	e.wg.Wait()
	var errs []error
	if e.poisoned.Load() == nil {
		if err := e.flushCheckpoint(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	// Drained by the checkpoint, unless it failed or the engine is
	// poisoned: then the workers try what is left (the log holds it).
	e.copies.close()
	e.watch.closeAll()
	errs = append(errs, e.closeStores())
	return errors.Join(errs...)
}

func (e *Engine) closeStores() error {
	var errs []error
	if e.db != nil {
		errs = append(errs, e.db.Close())
	}
	if e.log != nil {
		errs = append(errs, e.log.Close())
	}
	e.volMu.Lock()
	for _, c := range e.owned {
		errs = append(errs, c.Close())
	}
	e.owned = nil
	e.volMu.Unlock()
	if e.lock != nil {
		errs = append(errs, e.lock.Close())
	}
	return errors.Join(errs...)
}

// AppliedLSN returns the LSN of the last record applied to the projection.
func (e *Engine) AppliedLSN() uint64 { return e.applied.Load() }

// CheckpointLSN returns the LSN up to which the projection is flushed and
// every inline blob's volume copy is durable: after a crash, recovery reads
// the redo log from the record after it, so the log may be trimmed up to
// it.
func (e *Engine) CheckpointLSN() uint64 { return e.checkpoint.Load() }

// primaryView returns the primary volume as readers see it: a blob answered
// but whose volume copy is not yet written is read from memory.
func (e *Engine) primaryView() hsm.Volume {
	e.volMu.RLock()
	defer e.volMu.RUnlock()
	return e.volumes[e.prim().name]
}

// Checkpoint makes the volume copies of inline blobs durable, then flushes
// the projection, so replay after a crash starts at the current applied
// LSN; then it lets blob collection run.
func (e *Engine) Checkpoint(ctx context.Context) error {
	if e.poisoned.Load() != nil {
		return ErrReadOnly
	}
	if err := e.flushCheckpoint(ctx); err != nil {
		return err
	}
	select {
	case e.gcKick <- struct{}{}:
	default:
	}
	if err := e.collectMoved(ctx); err != nil {
		e.opts.Logger.Error("engine: delete moved blobs' old copies", "err", err)
	}
	return ctx.Err()
}

// flushCheckpoint syncs the deferred inline copies, records how far that
// reaches ("blobsynced") and flushes Pebble, which makes both that and the
// applied LSN durable. Recovery then verifies copies only after the
// recorded LSN.
func (e *Engine) flushCheckpoint(ctx context.Context) error {
	e.ckMu.Lock()
	defer e.ckMu.Unlock()
	lsn, err := e.syncInline(ctx)
	if err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	if err := e.db.Set(keyBlobSynced, binary.BigEndian.AppendUint64(nil, lsn), pebble.NoSync); err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	if err := e.db.Flush(); err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	if lsn > e.checkpoint.Load() {
		e.checkpoint.Store(lsn)
	}
	e.indexPrimary(ctx)
	return nil
}

func (e *Engine) checkpointLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-e.quit:
			return
		case <-e.ckKick:
			if err := e.Checkpoint(context.Background()); err != nil && !errors.Is(err, ErrReadOnly) {
				e.opts.Logger.Error("engine: checkpoint", "err", err)
			}
		case <-t.C:
			if e.applied.Load() == e.checkpoint.Load() && e.opts.SafeLSN == nil {
				e.compactPrimary()
				continue
			}
			if err := e.Checkpoint(context.Background()); err != nil && !errors.Is(err, ErrReadOnly) {
				e.opts.Logger.Error("engine: checkpoint", "err", err)
			}
			e.compactPrimary()
		}
	}
}

// pebbleLogger sends Pebble's messages to slog at debug level; errors at
// error level.
type pebbleLogger struct {
	l interface {
		Debug(string, ...any)
		Error(string, ...any)
	}
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	panic("pebble: " + fmt.Sprintf(format, args...))
}
