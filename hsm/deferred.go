package hsm

import (
	"context"
	"io"
)

// DeferredSyncer is implemented by volumes that can store an object now and
// make it durable later, so that many objects share one round of fsyncs
// instead of paying for one each. It is optional: callers check for it with a
// type assertion and fall back to Volume.Put, which is always durable.
//
// The engine uses it for message blobs that ride inside their redo record:
// the record already makes the bytes durable, so the volume copy can wait
// until the next checkpoint (ARCHITECTURE invariant 3).
//
// Durability: an object stored with PutDeferred is visible at once to Get,
// GetRange, Stat and List, exactly as after Put, but until a later
// SyncDeferred returns, a crash may lose it or, on real file systems, leave
// it empty or torn under its final name. A caller must therefore keep its
// own durable copy of the bytes until SyncDeferred returns, and must not
// trust a deferred object found after a crash without verifying it.
//
// Concurrency: both methods are safe for concurrent use with each other and
// with the Volume methods. A Delete or durable Put of a pending name
// replaces the pending write; SyncDeferred then has nothing to do for it.
type DeferredSyncer interface {
	// PutDeferred stores the object whole (a reader never sees a partial
	// object, and an existing object is replaced atomically), but not yet
	// durably. size is as for Put.
	PutDeferred(ctx context.Context, name string, r io.Reader, size int64) error

	// SyncDeferred makes every object stored with PutDeferred before the
	// call durable. Concurrent calls are serialised: each returns only once
	// everything deferred before it was made durable. On error the pending
	// objects stay pending and a later call retries them.
	SyncDeferred(ctx context.Context) error
}
