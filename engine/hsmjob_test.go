package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/policy"
)

func policyMatch(t *testing.T, now time.Time, lines ...string) func(PolicyItem) bool {
	t.Helper()
	p, err := policy.Parse(lines)
	must(t, err)
	return func(it PolicyItem) bool {
		return p.Match(policy.Item{Type: it.Type.String(), Folder: it.Folder, Date: it.Date, Size: it.Size,
			Flags: it.Flags, HasAttachment: it.HasAttachment}, now)
	}
}

// TestMoveByPolicyFixedClock: on a fixed clock, exactly the items the
// policy selects move; the rest stay; a second run moves nothing.
func TestMoveByPolicyFixedClock(t *testing.T) {
	e, a, bodies, items := moveRig(t, 8) // dates 2025-01-01..08; items 4..7 larger than 64 KiB
	inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
	must(t, err)
	junk, err := e.FolderByPath(ctx, a.ID, "Junk")
	must(t, err)
	att := []byte("Subject: att\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\nJVBERi0=\r\n--b--\r\n")
	attItem, err := e.Append(ctx, a.ID, inbox.ID, att, nil, time.Date(2025, 1, 9, 0, 0, 0, 0, time.UTC))
	must(t, err)
	junkItem, err := e.Append(ctx, a.ID, junk.ID, []byte("Subject: spam\r\n\r\nbuy\r\n"), nil, time.Date(2025, 1, 9, 0, 0, 0, 0, time.UTC))
	must(t, err)
	now := time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC)
	match := policyMatch(t, now, "message:before:-7day", "message:in:Junk", "message:has:attachment smaller:1KB")

	dry, err := e.MoveByPolicy(ctx, MoveOptions{Match: match, DryRun: true})
	must(t, err)
	// Selected: items 0, 1 and 2 (dated before 2025-01-03 12:00 UTC), the
	// Junk message and the one with an attachment.
	if dry.Items != 5 || dry.Blobs != 5 || dry.To != "cold" {
		t.Fatalf("dry run %+v", dry)
	}
	if loc, _ := e.BlobAt(ctx, items[0].Digest); loc.Volume != "primary" {
		t.Fatal("dry run moved a blob")
	}
	var progress int64
	rep, err := e.MoveByPolicy(ctx, MoveOptions{Match: match, Progress: func(n, _ int64) { progress += n }})
	must(t, err)
	if rep.Blobs != 5 || rep.From["primary"].Blobs != 5 || rep.Written <= 0 || progress != 5 || len(rep.Failed) != 0 {
		t.Fatalf("move %+v (progress %d)", rep, progress)
	}
	moved := map[dedup.Digest]bool{items[0].Digest: true, items[1].Digest: true, items[2].Digest: true, attItem.Digest: true, junkItem.Digest: true}
	for i, it := range append(items, attItem, junkItem) {
		loc, err := e.BlobAt(ctx, it.Digest)
		must(t, err)
		if want := map[bool]string{true: "cold", false: "primary"}[moved[it.Digest]]; loc.Volume != want {
			t.Fatalf("item %d on %s, want %s", i, loc.Volume, want)
		}
	}
	var buf []byte
	for i, it := range items {
		got, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
		if err != nil || !bytes.Equal(got, bodies[i]) {
			t.Fatalf("item %d: %v", i, err)
		}
		// By digest (IMAP FETCH): the primary is tried first and the
		// moved ones are found on cold.
		got, buf, err = e.ReadBlobOf(ctx, it.Digest, buf)
		if err != nil || !bytes.Equal(got, bodies[i]) {
			t.Fatalf("item %d by digest: %v", i, err)
		}
	}
	again, err := e.MoveByPolicy(ctx, MoveOptions{Match: match})
	must(t, err)
	if again.Blobs != 0 || again.Already != 5 {
		t.Fatalf("second run %+v", again)
	}
	must(t, e.Checkpoint(ctx))
	must(t, e.Check(ctx))

	// move-volume: everything back to primary, then cold is empty.
	back, err := e.MoveVolume(ctx, "cold", MoveOptions{To: "primary"})
	must(t, err)
	if back.Blobs != 5 {
		t.Fatalf("move-volume %+v", back)
	}
	must(t, e.Checkpoint(ctx))
	must(t, e.DeleteVolume(ctx, "cold"))
	if _, err := e.MoveByPolicy(ctx, MoveOptions{Match: match}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("move without a current secondary: %v", err)
	}
}

// TestMoveOutageFailsAndRerunCompletes: a destination that fails every
// write ends the run with the volume's error, every blob still readable,
// and a run once it is back moves the rest.
func TestMoveOutageFailsAndRerunCompletes(t *testing.T) {
	e, a, bodies, items := moveRig(t, 6)
	cold, err := e.OpenVolume(ctx, "cold")
	must(t, err)
	flaky := &outageVolume{Volume: cold, after: 2}
	e.volMu.Lock()
	e.volumes["cold"] = flaky
	e.volMu.Unlock()
	match := func(PolicyItem) bool { return true }
	rep, err := e.MoveByPolicy(ctx, MoveOptions{Match: match})
	if err == nil || !errors.Is(err, errOutage) || rep.Blobs > 2 {
		t.Fatalf("move during an outage: %+v %v", rep, err)
	}
	first := rep.Blobs
	for i, it := range items {
		got, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
		if err != nil || !bytes.Equal(got, bodies[i]) {
			t.Fatalf("item %d during the outage: %v", i, err)
		}
	}
	flaky.back.Store(true)
	rep, err = e.MoveByPolicy(ctx, MoveOptions{Match: match})
	if err != nil || rep.Blobs != 6-first || rep.Already != first {
		t.Fatalf("rerun %+v %v", rep, err)
	}
	must(t, e.Checkpoint(ctx))
	must(t, e.Check(ctx))
}

var errOutage = hsm.Temporary(errors.New("store unreachable"))

// outageVolume fails every Put after the first `after` until back is set.
type outageVolume struct {
	hsm.Volume
	after int64
	puts  atomic.Int64
	back  atomic.Bool
}

func (v *outageVolume) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if !v.back.Load() && v.puts.Add(1) > v.after {
		return fmt.Errorf("put %s: %w", name, errOutage)
	}
	return v.Volume.Put(ctx, name, r, size)
}

func TestCheckBlobsFindsInjectedProblems(t *testing.T) {
	e, a, _, items := moveRig(t, 6)
	for _, it := range items[:3] {
		_, err := e.MoveBlob(ctx, it.Digest, "cold")
		must(t, err)
	}
	must(t, e.Checkpoint(ctx))
	later := func() time.Time { return time.Now().Add(24 * time.Hour) }
	clean, err := e.CheckBlobs(ctx, CheckOptions{Now: later})
	must(t, err)
	if clean.Blobs != 6 || clean.Unfixed() != 0 || clean.Objects != 6 {
		t.Fatalf("clean check %+v", clean)
	}
	primary, _ := e.OpenVolume(ctx, "primary")
	cold, _ := e.OpenVolume(ctx, "cold")
	must(t, cold.Delete(ctx, dedup.BlobName(items[0].Digest)))                                                // missing
	must(t, hsm.PutBytes(ctx, primary, dedup.BlobName(items[4].Digest), dedup.Encode([]byte("garbage"), -1))) // corrupt
	stray := dedup.Sum([]byte("nobody references this"))
	must(t, hsm.PutBytes(ctx, cold, dedup.BlobName(stray), dedup.Encode([]byte("nobody references this"), -1))) // orphan

	rep, err := e.CheckBlobs(ctx, CheckOptions{Now: later})
	must(t, err)
	if rep.Missing != 1 || rep.Corrupt != 1 || rep.Orphans != 1 || rep.Fixed != 0 {
		t.Fatalf("check %+v", rep)
	}
	want := map[string]string{"missing": items[0].Digest.String(), "corrupt": items[4].Digest.String(), "orphan": stray.String()}
	for _, p := range rep.Problems {
		if want[p.Kind] != p.Digest {
			t.Fatalf("problem %+v, want %s", p, want[p.Kind])
		}
	}
	// A young unreferenced object is not an orphan yet (a delivery writes
	// its blob before its record).
	young, err := e.CheckBlobs(ctx, CheckOptions{Volumes: []string{"cold"}, Now: func() time.Time { return time.Unix(0, 0) }})
	must(t, err)
	if young.Orphans != 0 || young.Missing != 1 {
		t.Fatalf("check of cold with young objects %+v", young)
	}
	fixed, err := e.CheckBlobs(ctx, CheckOptions{Fix: true, Now: later})
	must(t, err)
	if fixed.Fixed != 1 || fixed.Unfixed() != 2 {
		t.Fatalf("fix %+v", fixed)
	}
	if _, err := cold.Stat(ctx, dedup.BlobName(stray)); !hsm.IsNotFound(err) {
		t.Fatalf("orphan still there: %v", err)
	}
	acct, err := e.CheckBlobs(ctx, CheckOptions{Accounts: []uint64{a.ID}, Now: later})
	must(t, err)
	if acct.Blobs != 6 || acct.Missing != 1 || acct.Corrupt != 1 || acct.Orphans != 0 {
		t.Fatalf("account check %+v", acct)
	}
	if _, err := e.CheckBlobs(ctx, CheckOptions{Volumes: []string{"nope"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown volume: %v", err)
	}
}

// hangVolume blocks every Delete until its context ends while hang is set.
type hangVolume struct {
	hsm.Volume
	hang atomic.Bool
}

func (v *hangVolume) Delete(ctx context.Context, name string) error {
	if v.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return v.Volume.Delete(ctx, name)
}

// TestCollectSkipsUnreachableSecondary: collecting a blob on a volume that
// does not answer (an S3 outage) holds up the writer for the delete's
// short deadline once, not for every pass; the blob is deleted once the
// volume answers again. Regression: the writer waited for the volume's
// whole retry policy on every collection pass.
func TestCollectSkipsUnreachableSecondary(t *testing.T) {
	old := elsewhereDeleteTimeout
	elsewhereDeleteTimeout = 200 * time.Millisecond
	defer func() { elsewhereDeleteTimeout = old }()
	e, a, _, items := moveRig(t, 2)
	_, err := e.MoveBlob(ctx, items[0].Digest, "cold")
	must(t, err)
	must(t, e.Checkpoint(ctx))
	cold, err := e.OpenVolume(ctx, "cold")
	must(t, err)
	hv := &hangVolume{Volume: cold}
	hv.hang.Store(true)
	e.volMu.Lock()
	e.volumes["cold"] = hv
	e.volMu.Unlock()
	inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
	must(t, err)
	_, err = e.Expunge(ctx, a.ID, inbox.ID, []uint64{items[0].ID})
	must(t, err)
	for range 3 {
		must(t, e.Checkpoint(ctx))
		t0 := time.Now()
		if _, err := e.CreateFolder(ctx, a.ID, fmt.Sprintf("F%d", t0.UnixNano()), ""); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("a command waited %v behind the collection of a blob on an unreachable volume", d)
		}
	}
	if _, err := cold.Stat(ctx, dedup.BlobName(items[0].Digest)); err != nil {
		t.Fatalf("blob deleted while its volume did not answer? %v", err)
	}
	hv.hang.Store(false)
	for range 61 {
		e.opts.Now() // the test clock steps a second per call: a minute passes
	}
	must(t, e.Checkpoint(ctx))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := cold.Stat(ctx, dedup.BlobName(items[0].Digest)); hsm.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("collected blob never deleted from the volume once it answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
