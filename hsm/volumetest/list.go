package volumetest

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/tidemark/tidemark/hsm"
)

func listNames(t *testing.T, v hsm.Volume, prefix string) []string {
	t.Helper()
	var names []string
	err := v.List(context.Background(), prefix, func(oi hsm.ObjectInfo) error {
		names = append(names, oi.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return names
}

func expectList(t *testing.T, v hsm.Volume, prefix string, want []string) {
	t.Helper()
	got := listNames(t, v, prefix)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("list %q:\n got  %q\n want %q", prefix, got, want)
	}
}

func testList(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	names := []string{
		"tidemark-backup.json",
		"blobs/ab/ab01",
		"blobs/ab/ab02",
		"blobs/ac/ac01",
		"blobs/b0/b001",
		"log/00000001-00000010.seg.zst",
		"log/00000011-00000020.seg.zst",
		"catalog/00000020.snap.zst",
	}
	for i, n := range names {
		put(t, v, n, payload(uint64(100+i), 10+i))
	}
	all := slices.Clone(names)
	sort.Strings(all)
	expectList(t, v, "", all)
	expectList(t, v, "blobs/", []string{"blobs/ab/ab01", "blobs/ab/ab02", "blobs/ac/ac01", "blobs/b0/b001"})
	expectList(t, v, "blobs/a", []string{"blobs/ab/ab01", "blobs/ab/ab02", "blobs/ac/ac01"})
	expectList(t, v, "blobs/ab/", []string{"blobs/ab/ab01", "blobs/ab/ab02"})
	expectList(t, v, "blobs/ab/ab0", []string{"blobs/ab/ab01", "blobs/ab/ab02"})
	expectList(t, v, "blobs/ab/ab02", []string{"blobs/ab/ab02"})
	expectList(t, v, "blobs/ab/ab03", nil)
	expectList(t, v, "blobs", []string{"blobs/ab/ab01", "blobs/ab/ab02", "blobs/ac/ac01", "blobs/b0/b001"})
	expectList(t, v, "nothing/", nil)
	expectList(t, v, "t", []string{"tidemark-backup.json"})
	expectList(t, v, "log/0000001", []string{"log/00000011-00000020.seg.zst"})

	// Sizes and times are reported.
	err := v.List(ctx, "log/", func(oi hsm.ObjectInfo) error {
		i := slices.Index(names, oi.Name)
		if oi.Size != int64(10+i) || oi.ModTime.IsZero() {
			t.Errorf("list info %+v, want size %d and a time", oi, 10+i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Deleted objects disappear from listings.
	if err := v.Delete(ctx, "blobs/ab/ab01"); err != nil {
		t.Fatal(err)
	}
	expectList(t, v, "blobs/ab/", []string{"blobs/ab/ab02"})
}

// testListOrder checks byte-wise order where walking directories naively
// would go wrong: '-' and '.' sort before '/', '0' and 'a' after it.
func testListOrder(t *testing.T, v hsm.Volume) {
	names := []string{"a/b", "a-c", "a.d", "a0", "aa", "a/a/z", "a/a-", "b", "A", "a/B"}
	for _, n := range names {
		put(t, v, n, []byte(n))
	}
	want := slices.Clone(names)
	sort.Strings(want)
	expectList(t, v, "", want)
	expectList(t, v, "a", want[1:len(want)-1])
	expectList(t, v, "a/", []string{"a/B", "a/a-", "a/a/z", "a/b"})
}

func testListStop(t *testing.T, v hsm.Volume) {
	for i := 0; i < 5; i++ {
		put(t, v, "stop/"+string(rune('a'+i)), []byte{byte(i)})
	}
	stop := errors.New("enough")
	var seen []string
	err := v.List(context.Background(), "stop/", func(oi hsm.ObjectInfo) error {
		seen = append(seen, oi.Name)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if err != stop && !errors.Is(err, stop) {
		t.Fatalf("list stopped by callback: err = %v", err)
	}
	if !slices.Equal(seen, []string{"stop/a", "stop/b"}) {
		t.Fatalf("list after stop: %q", seen)
	}
	// The volume is still usable after an aborted listing.
	expectList(t, v, "stop/", []string{"stop/a", "stop/b", "stop/c", "stop/d", "stop/e"})
}
