package engine

import (
	"context"
	"fmt"

	"github.com/tidemark/tidemark/hsm"
)

// The current primary on the live server.
//
// The primary (where new blobs go) is the engine's primaryState, swapped
// whole when a VolumeCurrentSet record for a primary volume (or a
// VolumeModified record changing the current primary's compression) is
// committed, so `tidemark volume set-current` takes effect on the running
// server:
//
//   - apply of the record, on the writer goroutine, builds the new state
//     and keeps it in the round's txn: records applied after it in the same
//     round (an inline blob's MessageAdded) already name the new primary;
//     the engine's state is swapped only once the round (or replay chunk)
//     is committed, so an aborted round changes nothing;
//   - a blob-first writer takes the state once (prepareBlob), writes to
//     that volume and names it in its record, so a blob being written to
//     the old primary at the switch finishes there and is recorded there;
//   - an inline blob's volume copy carries the state its record was
//     applied with, and is written and synced there (syncInline syncs every
//     volume that has been primary in this process);
//   - the old primary stays open and readable: blobs on it are read where
//     their records say;
//   - replay applies the same records the same way, so a crash anywhere
//     leaves each blob on the volume its record names; the primary opened
//     at the next start is the registry's current one.
//
// An engine given its primary (Options.Primary: tests, restore server)
// keeps it: the record then only changes the registry.

// primaryState is the primary volume new blobs go to.
type primaryState struct {
	name      string
	vol       hsm.Volume // the volume itself (readers use e.volumes, the pending-aware view)
	threshold int        // zstd threshold of new blobs (-1: off)
	deferred  hsm.DeferredSyncer
}

func newPrimaryState(name string, v hsm.Volume, threshold int) *primaryState {
	p := &primaryState{name: name, vol: v, threshold: threshold}
	p.deferred, _ = v.(hsm.DeferredSyncer)
	return p
}

// prim returns the current primary.
func (e *Engine) prim() *primaryState { return e.cur.Load() }

// primary returns the primary new records of this txn go to: one set by an
// earlier record of the round, else the engine's.
func (tx *txn) primary() *primaryState {
	if tx.prim != nil {
		return tx.prim
	}
	return tx.e.prim()
}

// switchPrimary is applied with a VolumeCurrentSet of a primary volume or
// a VolumeModified of the current one: the rest of the txn writes new
// blobs to the volume, and the engine once the txn is committed. The
// volume's settings are read from the batch (the record was applied to
// it). A volume that cannot be opened fails the apply: the round is
// refused (set-current opens it before recording, so this is a volume that
// went away since), and replay stops with the error, as opening the
// primary does.
func (tx *txn) switchPrimary(name string) error {
	e := tx.e
	if !e.livePrimary {
		return nil
	}
	var vr volRec
	ok, err := getVal(tx.b, volKey(name), &vr)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: volume %s made current but not registered", ErrCorrupt, name)
		}
		return err
	}
	// Opened from the batch's record: in replay its VolumeCreated may be
	// in this batch, not yet in the projection.
	v, err := e.openSpec(context.Background(), specOf(vr.V))
	if err != nil {
		return fmt.Errorf("switch primary to %s: %w", name, err)
	}
	if pv, ok := v.(primaryView); ok {
		v = pv.Volume
	}
	tx.prim = newPrimaryState(name, v, specOf(vr.V).CompressThreshold())
	return nil
}

// rawVolume returns a volume without the pending-copy view: the primary's
// own volume, or one opened from the registry.
func (e *Engine) rawVolume(ctx context.Context, name string) (hsm.Volume, error) {
	v, err := e.volume(ctx, name)
	if err != nil {
		return nil, err
	}
	if pv, ok := v.(primaryView); ok {
		return pv.Volume, nil
	}
	return v, nil
}

// setPrimary makes a committed txn's primary the engine's: readers of the
// volume see pending inline copies from now on (it may receive them), and
// checkpoints sync its deferred copies.
func (e *Engine) setPrimary(p *primaryState) {
	if p == nil {
		return
	}
	old := e.cur.Swap(p)
	e.volMu.Lock()
	defer e.volMu.Unlock()
	if e.copies != nil {
		e.volumes[p.name] = primaryView{p.vol, e.copies}
	} else {
		e.volumes[p.name] = p.vol
	}
	if p.deferred != nil && !containsSyncer(e.deferredVols, p.deferred) {
		e.deferredVols = append(e.deferredVols, p.deferred)
	}
	if old != nil && old.name != p.name {
		e.opts.Logger.Info("engine: new blobs go to another primary volume", "from", old.name, "to", p.name)
	}
}

func containsSyncer(list []hsm.DeferredSyncer, s hsm.DeferredSyncer) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// deferredSyncers returns the volumes that may hold deferred inline copies.
func (e *Engine) deferredSyncers() []hsm.DeferredSyncer {
	e.volMu.RLock()
	defer e.volMu.RUnlock()
	return append([]hsm.DeferredSyncer(nil), e.deferredVols...)
}

// wasPrimaryKind reports whether inline copies may have been written to
// vol: it is the current primary or registered as a primary volume.
func (e *Engine) wasPrimaryKind(r reader, vol string) (bool, error) {
	if vol == e.prim().name {
		return true, nil
	}
	var vr volRec
	ok, err := getVal(r, volKey(vol), &vr)
	return ok && vr.V.Kind == hsm.KindPrimary, err
}

// stateOf returns the primary state of a volume by name (its compression
// from the registry in r): where a replayed inline copy is rewritten.
func (e *Engine) stateOf(ctx context.Context, r reader, name string) (*primaryState, error) {
	if p := e.prim(); p.name == name {
		return p, nil
	}
	var vr volRec
	ok, err := getVal(r, volKey(name), &vr)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: blob on unregistered volume %s", ErrCorrupt, name)
	}
	v, err := e.rawVolume(ctx, name)
	if err != nil {
		return nil, err
	}
	return newPrimaryState(name, v, specOf(vr.V).CompressThreshold()), nil
}
