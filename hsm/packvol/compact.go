package packvol

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/tidemark/tidemark/internal/vfsutil"
)

// CompactStats reports what one Compact did.
type CompactStats struct {
	Packs       int   // packs rewritten and removed
	Copied      int   // live entries copied into the newest pack
	CopiedBytes int64 // their encoded bytes
	Freed       int64 // bytes of the removed packs
}

// Compact rewrites every pack except the newest whose dead fraction (bytes
// of replaced, deleted and tombstone entries over its entry bytes) is at
// least minDeadFraction: its live entries are appended to the newest pack
// (tombstones too while their name stays deleted, unless the pack is the
// oldest), the newest pack is fsynced, and only then the old pack is
// removed and the directory fsynced. A crash at any point leaves every
// object readable from the old pack, the new one, or both. Writers and
// readers keep going meanwhile; concurrent Compacts are serialised.
// minDeadFraction 0 rewrites every older pack.
func (v *Volume) Compact(ctx context.Context, minDeadFraction float64) (CompactStats, error) {
	v.cmu.Lock()
	defer v.cmu.Unlock()
	var st CompactStats
	for _, seq := range v.compactable(minDeadFraction) {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("compact: %w", err)
		}
		if err := v.compactPack(seq, &st); err != nil {
			return st, fmt.Errorf("compact pack %s: %w", v.packPath(seq), err)
		}
	}
	return st, nil
}

// compactable lists the packs worth rewriting, oldest first.
func (v *Volume) compactable(minDeadFraction float64) []uint64 {
	v.wmu.Lock()
	cur := v.cur.seq
	v.wmu.Unlock()
	v.mu.RLock()
	defer v.mu.RUnlock()
	var seqs []uint64
	for seq, p := range v.packs {
		body := p.size - packHeaderSize
		if seq >= cur || body <= 0 {
			continue
		}
		if float64(body-p.live)/float64(body) >= minDeadFraction {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs
}

func (v *Volume) compactPack(seq uint64, st *CompactStats) error {
	v.mu.RLock()
	p := v.packs[seq]
	oldest := true
	for s := range v.packs {
		oldest = oldest && s >= seq
	}
	v.mu.RUnlock()
	// Only Compact removes packs and it is serialised: p stays open.
	data, err := io.ReadAll(io.NewSectionReader(p.f, 0, p.size))
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	r := scanPack(data, seq)
	if r.err != nil {
		return r.err
	}
	for _, e := range r.entries {
		w := write{kind: e.kind, name: e.name, data: e.data, mtime: e.mtime}
		if e.kind == kindPut {
			// Copy only while the index still points here.
			w.check = func() (bool, error) {
				l, ok, err := v.index.get(e.name)
				return ok && l.seq == seq && l.off == e.off, err
			}
		} else {
			if oldest {
				continue // nothing older can hold the name
			}
			w.check = func() (bool, error) {
				_, live, err := v.index.get(e.name)
				return !live, err
			}
		}
		_, _, copied, err := v.appendEntry(w)
		if err != nil {
			return err
		}
		if copied {
			st.Copied++
			st.CopiedBytes += e.n
		}
	}
	if err := v.syncAll(); err != nil {
		return err
	}
	// Hold smu so no group sync is using the file while it closes.
	v.smu.Lock()
	v.mu.Lock()
	delete(v.packs, seq)
	v.mu.Unlock()
	cerr := p.f.Close()
	rerr := v.fs.Remove(v.packPath(seq))
	v.smu.Unlock()
	if rerr != nil {
		return fmt.Errorf("remove: %w", rerr)
	}
	if cerr != nil {
		return fmt.Errorf("close: %w", cerr)
	}
	if err := vfsutil.SyncDir(v.fs, v.packDir); err != nil {
		return err
	}
	st.Packs++
	st.Freed += p.size
	return nil
}

// CompactDead is Compact for hsm.Compactor: it reports the bytes freed.
func (v *Volume) CompactDead(ctx context.Context, minDeadFraction float64) (int64, error) {
	st, err := v.Compact(ctx, minDeadFraction)
	return st.Freed, err
}
