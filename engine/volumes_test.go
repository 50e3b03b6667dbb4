package engine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

func TestVolumeRegistry(t *testing.T) {
	fs := newMem()
	e := openTest(t, fs, "data")
	vs, err := e.Volumes(ctx)
	if err != nil || len(vs) != 1 || vs[0].Name != "primary" || !vs[0].Current || vs[0].Kind != hsm.KindPrimary || vs[0].Layout != hsm.LayoutPack {
		t.Fatalf("first start registers the primary: %+v %v", vs, err)
	}
	sec := hsm.Spec{Name: "cold", Kind: hsm.KindSecondary, Type: hsm.TypeLocal, Compress: true}
	must(t, e.CreateVolume(ctx, sec))
	if err := e.CreateVolume(ctx, sec); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if err := e.CreateVolume(ctx, hsm.Spec{Name: "bad/name", Kind: hsm.KindSecondary, Type: hsm.TypeLocal}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	if err := e.CreateVolume(ctx, hsm.Spec{Name: "twin", Kind: hsm.KindSecondary, Type: hsm.TypeLocal, Path: "volumes/cold"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a second volume on cold's directory: %v", err)
	}
	must(t, e.SetCurrentVolume(ctx, "cold"))
	if cur, _ := e.CurrentVolume(hsm.KindSecondary); cur != "cold" {
		t.Fatalf("current secondary %q", cur)
	}
	if err := e.DeleteVolume(ctx, "primary"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete of the current primary: %v", err)
	}
	sec.Threshold = 100
	must(t, e.ModifyVolume(ctx, sec))
	moved := sec
	moved.Path = "elsewhere"
	if err := e.ModifyVolume(ctx, moved); !errors.Is(err, ErrInvalid) {
		t.Fatalf("modify of the path: %v", err)
	}
	must(t, e.CreateVolume(ctx, hsm.Spec{Name: "spare", Kind: hsm.KindSecondary, Type: hsm.TypeLocal}))
	must(t, e.DeleteVolume(ctx, "spare"))
	want, err := e.Volumes(ctx)
	must(t, err)
	must(t, e.Close())

	// The registry is a function of the redo log.
	must(t, fs.RemoveAll("data/meta"))
	e2 := openTest(t, fs, "data")
	defer e2.Close()
	got, err := e2.Volumes(ctx)
	must(t, err)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("registry after replay\n got %+v\nwant %+v", got, want)
	}
	if len(got) != 2 || got[0].Name != "cold" || got[0].Threshold != 100 || !got[0].Current {
		t.Fatalf("registry %+v", got)
	}
}

// moveRig is an engine with a secondary volume "cold" and n delivered
// messages of distinct sizes, the last half larger than the inline limit.
func moveRig(t *testing.T, n int) (*Engine, Account, [][]byte, []Item) {
	t.Helper()
	e, a := newEngine(t)
	must(t, e.CreateVolume(ctx, hsm.Spec{Name: "cold", Kind: hsm.KindSecondary, Type: hsm.TypeLocal, Compress: true, Threshold: 64}))
	must(t, e.SetCurrentVolume(ctx, "cold"))
	inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
	must(t, err)
	var bodies [][]byte
	for i := range n {
		size := 100 + i
		if i >= n/2 {
			size = DefaultInlineBlobMax + 1000 + i
		}
		b := fmt.Appendf(nil, "Subject: m%d\r\n\r\n%s\r\n", i, bytes.Repeat([]byte{'a' + byte(i%26)}, size))
		bodies = append(bodies, b)
		if _, err := e.Append(ctx, a.ID, inbox.ID, b, nil, time.Date(2025, 1, 1+i, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	must(t, e.Checkpoint(ctx))
	items, err := e.ListItems(ctx, a.ID, inbox.ID)
	must(t, err)
	return e, a, bodies, items
}

func TestMoveBlob(t *testing.T) {
	e, a, bodies, items := moveRig(t, 6)
	primary, err := e.OpenVolume(ctx, "primary")
	must(t, err)
	cold, err := e.OpenVolume(ctx, "cold")
	must(t, err)
	for _, it := range items[:4] {
		n, err := e.MoveBlob(ctx, it.Digest, "cold")
		if err != nil || n <= 0 {
			t.Fatalf("move %s: %d %v", it.Digest, n, err)
		}
		// Run again (a resumed move): nothing to do.
		if n, err := e.MoveBlob(ctx, it.Digest, "cold"); err != nil || n != 0 {
			t.Fatalf("second move: %d %v", n, err)
		}
	}
	// Before the checkpoint passes the records, the old copies stay.
	if _, err := primary.Stat(ctx, dedup.BlobName(items[0].Digest)); err != nil {
		t.Fatalf("old copy deleted before the checkpoint: %v", err)
	}
	if n, _ := e.PendingOldCopies(); n != 4 {
		t.Fatalf("pending old copies %d, want 4", n)
	}
	for i, it := range items {
		got, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
		if err != nil || !bytes.Equal(got, bodies[i]) {
			t.Fatalf("item %d before checkpoint: %v", i, err)
		}
	}
	must(t, e.Checkpoint(ctx))
	if n, _ := e.PendingOldCopies(); n != 0 {
		t.Fatalf("pending old copies after checkpoint %d", n)
	}
	for i, it := range items {
		name := dedup.BlobName(it.Digest)
		_, perr := primary.Stat(ctx, name)
		_, cerr := cold.Stat(ctx, name)
		if i < 4 && (!hsm.IsNotFound(perr) || cerr != nil) {
			t.Fatalf("moved item %d: primary %v, cold %v", i, perr, cerr)
		}
		if i >= 4 && (perr != nil || !hsm.IsNotFound(cerr)) {
			t.Fatalf("unmoved item %d: primary %v, cold %v", i, perr, cerr)
		}
		got, err := e.ReadBlobRange(ctx, a.ID, it.ID, 5, 20)
		if err != nil || !bytes.Equal(got, bodies[i][5:25]) {
			t.Fatalf("item %d range after move: %q %v", i, got, err)
		}
		loc, err := e.BlobAt(ctx, it.Digest)
		if want := map[bool]string{true: "cold", false: "primary"}[i < 4]; err != nil || loc.Volume != want {
			t.Fatalf("item %d on %q, want %s (%v)", i, loc.Volume, want, err)
		}
	}
	// cold compresses from 64 bytes: its copies are smaller than the raw.
	fi, err := cold.Stat(ctx, dedup.BlobName(items[0].Digest))
	must(t, err)
	if fi.Size >= int64(len(bodies[0])) {
		t.Fatalf("copy on cold %d bytes, raw %d: not compressed", fi.Size, len(bodies[0]))
	}
	must(t, e.Check(ctx))
	if err := e.DeleteVolume(ctx, "cold"); !errors.Is(err, ErrFolderNotEmpty) {
		t.Fatalf("delete of a volume holding blobs: %v", err)
	}
	st, err := e.VolumeStats(ctx)
	must(t, err)
	for _, s := range st {
		want := map[string]int64{"cold": 4, "primary": 2}[s.Name]
		if s.Blobs != want || s.Objects != want || s.Error != "" {
			t.Fatalf("stats %+v, want %d blobs", s, want)
		}
	}
	// Move back: the old copy on cold goes, the blob on primary stays.
	for _, it := range items[:4] {
		if _, err := e.MoveBlob(ctx, it.Digest, "primary"); err != nil {
			t.Fatal(err)
		}
	}
	must(t, e.Checkpoint(ctx))
	for i, it := range items {
		got, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
		if err != nil || !bytes.Equal(got, bodies[i]) {
			t.Fatalf("item %d after moving back: %v", i, err)
		}
	}
	must(t, e.Check(ctx))
	must(t, e.DeleteVolume(ctx, "cold"))
}

func TestMoveBlobRefusesCorruptSource(t *testing.T) {
	e, _, _, items := moveRig(t, 2)
	primary, err := e.OpenVolume(ctx, "primary")
	must(t, err)
	name := dedup.BlobName(items[1].Digest)
	must(t, hsm.PutBytes(ctx, primary, name, dedup.Encode([]byte("not the message"), -1)))
	if _, err := e.MoveBlob(ctx, items[1].Digest, "cold"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("move of a corrupt blob: %v", err)
	}
	if loc, _ := e.BlobAt(ctx, items[1].Digest); loc.Volume != "primary" {
		t.Fatalf("corrupt blob recorded on %s", loc.Volume)
	}
}
