package packvol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tidemark/tidemark/hsm"
)

// ctxReader stops a long copy when the caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put stores the object durably: a small one is appended to the newest pack
// and the pack fsynced (shared with concurrent calls), a large one written
// as its own file.
func (v *Volume) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return v.put(ctx, "put", name, r, size, true)
}

// PutDeferred stores the object visibly but not yet durably: a small one is
// appended to the newest pack without fsync. Large objects use localvol's
// PutDeferred. SyncDeferred makes both durable.
func (v *Volume) PutDeferred(ctx context.Context, name string, r io.Reader, size int64) error {
	return v.put(ctx, "put deferred", name, r, size, false)
}

// SyncDeferred fsyncs the newest pack (older ones were fsynced when rolled)
// and the large objects' pending writes. After a failed fsync the handle
// is failed (ErrFailed) and later calls fail too: reopen the volume, which
// keeps exactly the entries that reached the disk whole.
func (v *Volume) SyncDeferred(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sync deferred: %w", err)
	}
	if err := v.syncAll(); err != nil {
		return fmt.Errorf("sync deferred: %w", err)
	}
	if err := v.large.SyncDeferred(ctx); err != nil {
		return fmt.Errorf("sync deferred: %w", err)
	}
	return nil
}

func (v *Volume) put(ctx context.Context, op, name string, r io.Reader, size int64, durable bool) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	unlock := v.lockName(name)
	defer unlock()
	if size > v.opts.SmallMax {
		return v.putLarge(ctx, op, name, r, size, durable)
	}
	cr := ctxReader{ctx, r}
	var data []byte
	var err error
	if size >= 0 {
		data = make([]byte, size)
		var n int
		n, err = io.ReadFull(cr, data)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			err = hsm.CheckSize(name, size, int64(n))
		case err == nil:
			var one [1]byte
			if m, _ := io.ReadFull(cr, one[:]); m > 0 {
				err = hsm.CheckSize(name, size, size+1)
			}
		}
	} else {
		data, err = io.ReadAll(io.LimitReader(cr, v.opts.SmallMax+1))
		if err == nil && int64(len(data)) > v.opts.SmallMax {
			return v.putLarge(ctx, op, name, io.MultiReader(bytes.NewReader(data), r), -1, durable)
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	seq, end, _, err := v.appendEntry(write{kind: kindPut, name: name, data: data, mtime: v.opts.Now().UnixNano()})
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	// A large file of the same name is now shadowed: remove it once the
	// entry is durable (even for PutDeferred: a crash must not lose both),
	// else New removes it.
	large := v.hasLarge(name)
	if durable || large {
		if err := v.syncTo(seq, end); err != nil {
			return fmt.Errorf("%s %s: %w", op, name, err)
		}
	}
	if large {
		if err := v.dropLarge(ctx, name); err != nil {
			return fmt.Errorf("%s %s: %w", op, name, err)
		}
	}
	return nil
}

func (v *Volume) hasLarge(name string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	_, ok := v.largeNames[name]
	return ok
}

func (v *Volume) dropLarge(ctx context.Context, name string) error {
	if err := v.large.Delete(ctx, name); err != nil {
		return err
	}
	v.mu.Lock()
	delete(v.largeNames, name)
	v.mu.Unlock()
	return nil
}

// putLarge stores the object as its own file, then retires a packed
// version of the name with a durable tombstone (the stripe lock keeps the
// name's tier stable meanwhile). Until the tombstone is
// written the packed version is the one read; a crash in between keeps it
// (the put was not acknowledged) and New removes the file.
func (v *Volume) putLarge(ctx context.Context, op, name string, r io.Reader, size int64, durable bool) error {
	v.mu.RLock()
	_, packed, err := v.index.get(name)
	v.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	// Over a packed version, the file must be durable before the
	// tombstone is, or a crash could lose both.
	if durable || packed {
		err = v.large.Put(ctx, name, r, size)
	} else {
		err = v.large.PutDeferred(ctx, name, r, size)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	v.mu.Lock()
	v.largeNames[name] = struct{}{}
	v.mu.Unlock()
	if packed {
		if err := v.tombstone(name); err != nil {
			return fmt.Errorf("%s %s: %w", op, name, err)
		}
	}
	return nil
}

// tombstone durably deletes the packed version of name.
func (v *Volume) tombstone(name string) error {
	seq, end, _, err := v.appendEntry(write{kind: kindTombstone, name: name, mtime: v.opts.Now().UnixNano()})
	if err != nil {
		return err
	}
	return v.syncTo(seq, end)
}

// Delete removes the object durably: a tombstone for a packed object, the
// file for a large one. Deleting a missing object returns nil.
func (v *Volume) Delete(ctx context.Context, name string) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	unlock := v.lockName(name)
	defer unlock()
	v.mu.RLock()
	_, packed, err := v.index.get(name)
	_, large := v.largeNames[name]
	closed := v.closed
	v.mu.RUnlock()
	if closed {
		return fmt.Errorf("delete %s: %w", name, ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if packed {
		if err := v.tombstone(name); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	if large {
		if err := v.dropLarge(ctx, name); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	return nil
}

// readPacked returns a packed object's bytes; ok is false when the name
// is not in the packs.
func (v *Volume) readPacked(ctx context.Context, op, name string) (data []byte, ok bool, err error) {
	data, _, ok, err = v.readPackedInto(ctx, op, name, nil)
	return data, ok, err
}

// readPackedInto is readPacked reading the entry into buf's spare
// capacity when it is large enough (else into a new buffer): data then
// aliases ent, the buffer the whole entry was read into.
func (v *Volume) readPackedInto(ctx context.Context, op, name string, buf []byte) (data, ent []byte, ok bool, err error) {
	if err := hsm.CheckName(name); err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("%s %s: %w", op, name, err)
	}
	v.mu.RLock()
	if v.closed {
		v.mu.RUnlock()
		return nil, nil, false, fmt.Errorf("%s %s: %w", op, name, ErrClosed)
	}
	l, ok, err := v.index.get(name)
	if err != nil {
		v.mu.RUnlock()
		return nil, nil, false, fmt.Errorf("%s %s: %w", op, name, err)
	}
	if !ok {
		_, large := v.largeNames[name]
		v.mu.RUnlock()
		if !large {
			return nil, nil, false, fmt.Errorf("%s %s: %w", op, name, hsm.ErrNotFound)
		}
		return nil, nil, false, nil
	}
	if int64(cap(buf)-len(buf)) >= l.n {
		buf = buf[len(buf) : len(buf)+int(l.n)]
	} else {
		buf = make([]byte, l.n)
	}
	n, rerr := v.packs[l.seq].f.ReadAt(buf, l.off)
	v.mu.RUnlock()
	if n == len(buf) {
		rerr = nil
	}
	if rerr != nil {
		return nil, nil, false, fmt.Errorf("%s %s: read pack %d: %w", op, name, l.seq, rerr)
	}
	e, _, derr := decodeEntry(buf)
	if derr == nil && (e.kind != kindPut || e.name != name) {
		derr = fmt.Errorf("%w: entry names %q", ErrCorrupt, e.name)
	}
	if derr != nil {
		return nil, nil, false, hsm.Permanent(fmt.Errorf("%s %s: pack %s offset %d: %w", op, name, v.packPath(l.seq), l.off, derr))
	}
	return e.data, buf, true, nil
}

// Get returns a packed object from memory (read whole, checksum verified)
// or opens a large one.
func (v *Volume) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	data, ok, err := v.readPacked(ctx, "get", name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return v.large.Get(ctx, name)
	}
	return &packedReader{Reader: bytes.NewReader(data), data: data}, nil
}

// AppendObject appends the bytes of object name to dst and returns the
// extended slice, with Get's errors. A packed object's entry is read into
// dst's spare capacity and its checksum verified there, so a caller that
// reuses dst (an IMAP FETCH of many messages) reads without allocating
// once dst has grown to the largest object; a large object is read from
// its file into dst the same way.
func (v *Volume) AppendObject(ctx context.Context, name string, dst []byte) ([]byte, error) {
	data, _, ok, err := v.readPackedInto(ctx, "get", name, dst)
	if err != nil {
		return dst, err
	}
	if ok {
		// data lies inside the entry read into dst's spare capacity,
		// after its header: append moves it to the end of dst (the copy
		// handles the overlap).
		return append(dst, data...), nil
	}
	return v.appendLarge(ctx, name, dst)
}

// appendLarge appends the bytes of large object name, read from its file,
// to dst.
func (v *Volume) appendLarge(ctx context.Context, name string, dst []byte) ([]byte, error) {
	rc, err := v.large.Get(ctx, name)
	if err != nil {
		return dst, err
	}
	defer rc.Close()
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := rc.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("get %s: %w", name, err)
		}
	}
}

// ReadObject reads object name into buf's capacity (a new buffer when it
// is too small) and returns the object's bytes and the buffer to pass to
// the next call. The bytes are a slice of that buffer, not at its start:
// a packed entry is read whole and its checksum verified in place, and
// its data is handed out where it lies, so reading many objects through
// one buffer (an IMAP FETCH of a folder) costs the read and nothing else.
// Errors are Get's.
func (v *Volume) ReadObject(ctx context.Context, name string, buf []byte) (data, next []byte, err error) {
	data, ent, ok, err := v.readPackedInto(ctx, "get", name, buf[:0])
	if err != nil {
		return nil, buf, err
	}
	if ok {
		if cap(ent) > cap(buf) {
			buf = ent
		}
		return data, buf[:0], nil
	}
	data, err = v.appendLarge(ctx, name, buf[:0])
	if err != nil {
		return nil, buf, err
	}
	return data, data[:0], nil
}

// packedReader is Get's reader of a packed object, read whole into a
// buffer of its own; Bytes hands that buffer over (hsm.ReadAll uses it).
type packedReader struct {
	*bytes.Reader
	data []byte
}

func (*packedReader) Close() error { return nil }

// Bytes returns the whole object; it belongs to the caller.
func (r *packedReader) Bytes() []byte { return r.data }

func (v *Volume) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	data, ok, err := v.readPacked(ctx, "get range", name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return v.large.GetRange(ctx, name, off, length)
	}
	n, err := hsm.CheckRange(int64(len(data)), off, length)
	if err != nil {
		return nil, fmt.Errorf("get range %s: %w", name, err)
	}
	return io.NopCloser(bytes.NewReader(data[off : off+n])), nil
}

// Stat answers packed objects from the index without reading the pack.
func (v *Volume) Stat(ctx context.Context, name string) (hsm.ObjectInfo, error) {
	if err := hsm.CheckName(name); err != nil {
		return hsm.ObjectInfo{}, fmt.Errorf("stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return hsm.ObjectInfo{}, fmt.Errorf("stat %s: %w", name, err)
	}
	v.mu.RLock()
	l, ok, err := v.index.get(name)
	closed := v.closed
	v.mu.RUnlock()
	switch {
	case closed:
		return hsm.ObjectInfo{}, fmt.Errorf("stat %s: %w", name, ErrClosed)
	case err != nil:
		return hsm.ObjectInfo{}, fmt.Errorf("stat %s: %w", name, err)
	case ok:
		return hsm.ObjectInfo{Name: name, Size: l.size, ModTime: time.Unix(0, l.mtime)}, nil
	}
	return v.large.Stat(ctx, name)
}
