package packvol

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/tidemark/tidemark/internal/vfsutil"
)

// DefaultIndexDelta is Options.IndexDelta's default.
const DefaultIndexDelta = 64 << 10

// ckptWriteBuf is the checkpoint writer's buffer: one write call per this
// many bytes (tests lower it to crash between blocks).
var ckptWriteBuf = 256 << 10

// Checkpoint makes every pack entry written so far durable (an fsync of
// the newest pack, skipped when a sync already covered it) and writes a
// new index checkpoint by merging the current one with the changes since
// (streamed: constant memory, about 52 bytes per object read and written),
// so that the next New scans only bytes written after it and the changes
// no longer take memory. Appends wait only for the fsync and for the
// moment the changes are set aside; writes and reads go on during the
// merge. When nothing changed since the last checkpoint it writes nothing.
func (v *Volume) Checkpoint(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	v.ckmu.Lock()
	defer v.ckmu.Unlock()
	if err := v.checkpointLocked(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// checkpointLocked freezes the delta and merges it. The caller holds ckmu.
func (v *Volume) checkpointLocked() error {
	v.smu.Lock()
	v.wmu.Lock()
	var snap *ckptSnap
	var err error
	if v.failed != nil {
		err = v.failedErr()
	} else {
		snap, err = v.freezeLocked()
	}
	v.wmu.Unlock()
	v.smu.Unlock()
	if err != nil || snap == nil {
		return err
	}
	return v.merge(snap)
}

// ckptSnap is what a checkpoint merges: the file it replaces, the frozen
// delta and the packs, each covered to its size at the freeze.
type ckptSnap struct {
	base   *ckptFile
	frozen *memIndex
	packs  []ckptPack // by seq
}

// freezeLocked fsyncs the newest pack if bytes were written since the last
// fsync, then sets the delta aside as frozen (a new one takes later
// writes) and records the packs' sizes and live bytes: with every byte
// durable, each pack is covered to its size. It returns nil when nothing
// changed since the file was written. The caller holds smu and wmu, and
// the handle is not failed; no append runs meanwhile, so the frozen delta
// is exactly the changes within the covered bytes.
func (v *Volume) freezeLocked() (*ckptSnap, error) {
	p := v.cur
	if v.durSeq != p.seq || v.durEnd < p.size {
		if err := p.f.Sync(); err != nil {
			v.failed = fmt.Errorf("sync pack %s: %w", v.packPath(p.seq), err)
			return nil, v.failedErr()
		}
		v.durSeq, v.durEnd = p.seq, p.size
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	x := v.index
	if x.file != nil && x.delta.len() == 0 && samePacks(x.file.packs, v.packs) {
		return nil, nil
	}
	s := &ckptSnap{base: x.file, packs: make([]ckptPack, 0, len(v.packs))}
	for seq, pk := range v.packs {
		s.packs = append(s.packs, ckptPack{seq: seq, covered: pk.size, live: pk.live})
	}
	slices.SortFunc(s.packs, func(a, b ckptPack) int { return cmp.Compare(a.seq, b.seq) })
	x.frozen, x.delta = x.delta, newMemIndex(0, 0)
	s.frozen = x.frozen
	return s, nil
}

// samePacks reports whether a checkpoint's pack records still describe
// packs, ignoring packs that hold only a header on either side: only the
// newest pack can (a pack rolls only with an entry in it), and New scans
// a newest pack the checkpoint does not name, or skips a named one that
// is gone. So Close after New with nothing written rewrites nothing.
func samePacks(recs map[uint64]ckptPack, packs map[uint64]*pack) bool {
	n := 0
	for seq, p := range packs {
		if p.size == packHeaderSize {
			continue
		}
		if q, ok := recs[seq]; !ok || q.covered != p.size || q.live != p.live {
			return false
		}
		n++
	}
	for _, q := range recs {
		if q.covered > packHeaderSize {
			n--
		}
	}
	return n == 0
}

// merge writes the checkpoint of s (temp file, fsync, rename, directory
// fsync), opens it and swaps it in under the index lock, dropping the
// frozen delta. On failure the frozen delta goes back under the current
// one and the old file stays in use.
func (v *Volume) merge(s *ckptSnap) error {
	nf, err := v.writeMerged(s)
	v.mu.Lock()
	if err != nil {
		v.index.fold()
		v.mu.Unlock()
		return err
	}
	old := v.index.file
	v.index.file, v.index.frozen = nf, nil
	v.mu.Unlock()
	// Readers hold mu while they read a file: none uses old any more.
	if old != nil {
		_ = old.close()
	}
	return nil
}

// writeMerged streams the merge of s.base and s.frozen into a new
// checkpoint file and opens it. Records of packs not in s.packs (removed
// by Compact before the freeze) and removals are left out. Only the
// checkpoint writer (under ckmu) reads s.base and s.frozen is not changed
// once frozen, so neither lock is needed here.
func (v *Volume) writeMerged(s *ckptSnap) (*ckptFile, error) {
	packs := make(map[uint64]ckptPack, len(s.packs))
	for _, p := range s.packs {
		packs[p.seq] = p
	}
	markNewest(packs)
	keep := func(seq uint64) bool { _, ok := packs[seq]; return ok }
	fr := s.frozen
	names := map[string]wideLoc{}
	if s.base != nil {
		for name, w := range s.base.names {
			if _, shadowed := fr.get(name); !shadowed && keep(w.seq) {
				names[name] = w
			}
		}
	}
	for name, w := range fr.names {
		if w.n != 0 && keep(w.seq) {
			names[name] = w
		}
	}
	nf := &ckptFile{packs: packs, names: names}
	for name := range names {
		if _, isBlob := parseBlobName(name); isBlob {
			nf.wideBlobs++
		}
	}
	var cw *ckptWriter
	err := vfsutil.WriteFrom(v.fs, v.ckptPath(), func(w io.Writer) error {
		cw = &ckptWriter{w: bufio.NewWriterSize(w, ckptWriteBuf)}
		if err := cw.head(s.packs, names); err != nil {
			return err
		}
		if err := mergeBlobs(cw, s.base, fr, keep); err != nil {
			return err
		}
		return cw.finish()
	})
	if err != nil {
		return nil, err
	}
	f, err := v.fs.Open(v.ckptPath())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", v.ckptPath(), err)
	}
	nf.f, nf.fence, nf.nblobs, nf.blobsOff = f, cw.fence, cw.nblobs, cw.blobsOff
	return nf, nil
}

// mergeBlobs writes the blob records of base and fr in digest order; fr's
// record of a digest wins, a removal drops it, and so does a record of a
// pack keep refuses. A base record whose name fr holds among its other
// names (a blob place too wide for a blob record) is shadowed too.
func mergeBlobs(cw *ckptWriter, base *ckptFile, fr *memIndex, keep func(uint64) bool) error {
	var fc *blockCursor
	var frec blobRec
	fok := false
	if base != nil {
		fc = base.cursor(0, len(base.fence))
		fok = fc.next(&frec)
	}
	var name [blobNameLen]byte
	for k, l := range fr.blobs.all() {
		for fok && bytes.Compare(frec.k[:], k[:]) <= 0 {
			if frec.k != *k && keep(uint64(frec.l.seq)) && !wideIn(fr, &frec.k, name[:0]) {
				if err := cw.blob(&frec.k, frec.l); err != nil {
					return err
				}
			}
			fok = fc.next(&frec)
		}
		if l.n != 0 && keep(uint64(l.seq)) {
			if err := cw.blob(k, l); err != nil {
				return err
			}
		}
	}
	for ; fok; fok = fc.next(&frec) {
		if keep(uint64(frec.l.seq)) && !wideIn(fr, &frec.k, name[:0]) {
			if err := cw.blob(&frec.k, frec.l); err != nil {
				return err
			}
		}
	}
	if fc != nil && fc.err != nil {
		return fc.err
	}
	return nil
}

// wideIn reports whether fr holds digest k's name among its other names.
func wideIn(fr *memIndex, k *blobKey, buf []byte) bool {
	if fr.wideBlobs == 0 {
		return false
	}
	_, ok := fr.names[string(k.appendName(buf))]
	return ok
}

// mergeThreshold is the delta size at which an append starts a
// background checkpoint: Options.IndexDelta or an eighth of the file's
// records, whichever is larger. The caller holds mu.
func (v *Volume) mergeThreshold() int {
	t := v.opts.IndexDelta
	if f := v.index.file; f != nil {
		t = max(t, int(f.entries()/8))
	}
	return max(t, v.mergeRetryAt)
}

// maybeMerge starts a background checkpoint when the delta has reached
// the threshold and none is running. The caller holds mu.
func (v *Volume) maybeMerge() {
	if v.opts.IndexDelta < 0 || v.merging || v.closing || v.index.delta.len() < v.mergeThreshold() {
		return
	}
	v.merging = true
	v.bg.Add(1)
	go v.autoCheckpoint()
}

// autoCheckpoint writes a checkpoint in the background; a failure is
// logged and retried once the delta has grown by another threshold.
func (v *Volume) autoCheckpoint() {
	defer v.bg.Done()
	v.ckmu.Lock()
	defer v.ckmu.Unlock()
	v.mu.RLock()
	closing := v.closing
	v.mu.RUnlock()
	var err error
	if !closing {
		err = v.checkpointLocked()
	}
	v.mu.Lock()
	v.merging = false
	if err != nil {
		v.mergeRetryAt = v.index.delta.len() + max(v.opts.IndexDelta, 1)
	} else {
		v.mergeRetryAt = 0
	}
	v.mu.Unlock()
	if err != nil {
		v.opts.Logger.Warn("packvol: background index checkpoint failed", "dir", v.dir, "err", err)
	}
}
