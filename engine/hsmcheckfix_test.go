package engine

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// mapSource is a blob source holding some blobs' raw bytes (what the
// backup holds).
type mapSource map[dedup.Digest][]byte

func (m mapSource) ReadBlob(_ context.Context, d dedup.Digest) ([]byte, error) {
	if b, ok := m[d]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("blob %s: %w", d, hsm.ErrNotFound)
}

// TestCheckFixRepairsFromOtherVolumes: over three volumes, check --fix
// records a whole copy found on another volume as a missing or corrupt
// blob's location, copies a blob no volume holds whole back from the
// backup, reports one the backup lacks too as unrecoverable with the items
// that reference it, deletes orphans, and deletes nothing referenced; a
// second check finds only the unrecoverable blob, and every other message
// reads back byte for byte.
func TestCheckFixRepairsFromOtherVolumes(t *testing.T) {
	e, a, bodies, items := moveRig(t, 10)
	must(t, e.CreateVolume(ctx, hsm.Spec{Name: "cold2", Kind: hsm.KindSecondary, Type: hsm.TypeLocal}))
	primary, _ := e.OpenVolume(ctx, "primary")
	cold, _ := e.OpenVolume(ctx, "cold")
	cold2, _ := e.OpenVolume(ctx, "cold2")
	name := func(i int) string { return dedup.BlobName(items[i].Digest) }
	later := func() time.Time { return time.Now().Add(24 * time.Hour) }

	// 0: moved to cold, its old copy still on primary; cold's copy corrupt.
	_, err := e.MoveBlob(ctx, items[0].Digest, "cold")
	must(t, err)
	must(t, hsm.PutBytes(ctx, cold, name(0), dedup.Encode([]byte("torn"), -1)))
	// 1: on primary, missing there; a whole (compressed) copy on cold2.
	must(t, hsm.PutBytes(ctx, cold2, name(1), dedup.Encode(bodies[1], 0)))
	must(t, primary.Delete(ctx, name(1)))
	// 6: on primary, corrupt there; a whole copy on cold.
	must(t, hsm.PutBytes(ctx, cold, name(6), dedup.Encode(bodies[6], -1)))
	must(t, hsm.PutBytes(ctx, primary, name(6), dedup.Encode(bytes.ToUpper(bodies[6]), -1)))
	// 7: missing everywhere; the backup has it.
	must(t, primary.Delete(ctx, name(7)))
	// 8: corrupt everywhere: a wrong copy on cold2 too; not in the backup.
	must(t, hsm.PutBytes(ctx, primary, name(8), dedup.Encode([]byte("garbage"), -1)))
	must(t, hsm.PutBytes(ctx, cold2, name(8), dedup.Encode(bodies[8][:100], -1)))
	// An orphan on cold2.
	stray := []byte("nobody references this")
	must(t, hsm.PutBytes(ctx, cold2, dedup.BlobName(dedup.Sum(stray)), dedup.Encode(stray, -1)))
	backup := mapSource{items[7].Digest: bodies[7]}

	// Without --fix: found, good copies named, nothing changed.
	rep, err := e.CheckBlobs(ctx, CheckOptions{Now: later, Backup: backup})
	must(t, err)
	if rep.Missing != 2 || rep.Corrupt != 3 || rep.Fixed != 0 {
		t.Fatalf("check: %+v", rep)
	}
	byDigest := func(rep CheckReport) map[string]BlobProblem {
		m := map[string]BlobProblem{}
		for _, p := range rep.Problems {
			if p.Kind != "orphan" {
				m[p.Digest] = p
			}
		}
		return m
	}
	ps := byDigest(rep)
	for i, want := range map[int]string{0: "primary", 1: "cold2", 6: "cold"} {
		if p := ps[items[i].Digest.String()]; p.GoodCopy != want || p.Unrecoverable {
			t.Fatalf("item %d: %+v, want a good copy on %s", i, p, want)
		}
	}
	if loc, _ := e.BlobAt(ctx, items[1].Digest); loc.Volume != "primary" {
		t.Fatalf("a check without --fix changed a location: %+v", loc)
	}

	fixed, err := e.CheckBlobs(ctx, CheckOptions{Now: later, Fix: true, Backup: backup})
	must(t, err)
	ps = byDigest(fixed)
	for i, want := range map[int]string{0: "recorded on primary", 1: "recorded on cold2", 6: "recorded on cold", 7: "copied back from the backup to primary"} {
		if p := ps[items[i].Digest.String()]; !p.Fixed || p.Fix != want {
			t.Fatalf("item %d: %+v, want %q", i, p, want)
		}
	}
	p8 := ps[items[8].Digest.String()]
	if p8.Fixed || !p8.Unrecoverable || len(p8.Items) != 1 || p8.Items[0] != fmt.Sprintf("alice@example.org %d", items[8].ID) {
		t.Fatalf("item 8 (no whole copy anywhere): %+v", p8)
	}
	if fixed.Fixed != 6 || fixed.Unrecoverable != 1 || fixed.Unfixed() != 1 {
		t.Fatalf("fix: %+v", fixed)
	}
	for i, want := range map[int]string{0: "primary", 1: "cold2", 6: "cold", 7: "primary", 8: "primary"} {
		if loc, _ := e.BlobAt(ctx, items[i].Digest); loc.Volume != want {
			t.Fatalf("item %d on %s after the fix, want %s", i, loc.Volume, want)
		}
	}
	// The bad copies left behind go as moved blobs' old copies do; the
	// unrecoverable blob's copy where the state names it is kept, its
	// unreferenced wrong copy deleted as an orphan.
	must(t, e.Checkpoint(ctx))
	if n, _ := e.PendingOldCopies(); n != 0 {
		t.Fatalf("%d old copies left", n)
	}
	for _, c := range []struct {
		v    hsm.Volume
		i    int
		gone bool
	}{{cold, 0, true}, {primary, 0, false}, {primary, 6, true}, {cold, 6, false}, {primary, 8, false}, {cold2, 8, true}} {
		_, err := c.v.Stat(ctx, name(c.i))
		if c.gone != hsm.IsNotFound(err) {
			t.Fatalf("item %d: stat after the fix: %v (want gone: %v)", c.i, err, c.gone)
		}
	}
	again, err := e.CheckBlobs(ctx, CheckOptions{Now: later})
	must(t, err)
	if again.Missing != 0 || again.Corrupt != 1 || again.Unrecoverable != 1 || again.Orphans != 0 {
		t.Fatalf("check after the fix: %+v", again)
	}
	for i, it := range items {
		got, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
		if i == 8 {
			if err == nil && bytes.Equal(got, bodies[i]) {
				t.Fatal("the unrecoverable message read back whole")
			}
			continue
		}
		if err != nil || !bytes.Equal(got, bodies[i]) {
			t.Fatalf("item %d after the fix: %v", i, err)
		}
	}
	must(t, e.Check(ctx))
}

// TestCheckFixKeepsTheOneWholeCopy: a check of one volume with --fix does
// not delete an unreferenced copy there while the referenced copy
// elsewhere is not whole: it may be the one good copy left.
func TestCheckFixKeepsTheOneWholeCopy(t *testing.T) {
	e, _, bodies, items := moveRig(t, 4)
	must(t, e.CreateVolume(ctx, hsm.Spec{Name: "cold2", Kind: hsm.KindSecondary, Type: hsm.TypeLocal}))
	primary, _ := e.OpenVolume(ctx, "primary")
	cold2, _ := e.OpenVolume(ctx, "cold2")
	later := func() time.Time { return time.Now().Add(24 * time.Hour) }
	n2, n3 := dedup.BlobName(items[2].Digest), dedup.BlobName(items[3].Digest)
	must(t, hsm.PutBytes(ctx, cold2, n2, dedup.Encode(bodies[2], -1)))
	must(t, hsm.PutBytes(ctx, primary, n2, dedup.Encode([]byte("garbage"), -1)))
	must(t, hsm.PutBytes(ctx, cold2, n3, dedup.Encode(bodies[3], -1))) // a spare copy of a whole blob
	rep, err := e.CheckBlobs(ctx, CheckOptions{Volumes: []string{"cold2"}, Fix: true, Now: later})
	must(t, err)
	if rep.Orphans != 2 || rep.Fixed != 1 {
		t.Fatalf("check of cold2: %+v", rep)
	}
	if _, err := cold2.Stat(ctx, n2); err != nil {
		t.Fatalf("the one whole copy was deleted: %v", err)
	}
	if _, err := cold2.Stat(ctx, n3); !hsm.IsNotFound(err) {
		t.Fatalf("the spare copy of a whole blob was kept: %v", err)
	}
	// The full check then records it.
	rep, err = e.CheckBlobs(ctx, CheckOptions{Fix: true, Now: later})
	must(t, err)
	if rep.Corrupt != 1 || rep.Fixed != 1 || rep.Unfixed() != 0 {
		t.Fatalf("full check: %+v", rep)
	}
	if loc, _ := e.BlobAt(ctx, items[2].Digest); loc.Volume != "cold2" {
		t.Fatalf("item 2 on %s", loc.Volume)
	}
}
