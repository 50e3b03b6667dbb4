package catalog_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/internal/backuptest"
)

// TestAccountHistory: one pass gives the same versions as ItemVersions item
// by item, its deletions are DeletedBetween's, and a limit keeps the
// newest versions and says it cut.
func TestAccountHistory(t *testing.T) {
	h := backuptest.NewHarness(t, nil)
	ctx := context.Background()
	_, ids := backuptest.Workload(t, h)
	h.WaitShipped()
	alice := ids["alice"]
	all, truncated, err := h.Cat.AccountHistory(ctx, alice, 1<<20)
	if err != nil || truncated || len(all) == 0 {
		t.Fatalf("history: %d versions, truncated %v, %v", len(all), truncated, err)
	}
	var want []catalog.ItemVersion
	seen := map[uint64]bool{}
	deleted := 0
	for _, v := range all {
		if v.Deleted {
			deleted++
		}
		if seen[v.ID] {
			continue
		}
		seen[v.ID] = true
		vs, err := h.Cat.ItemVersions(ctx, alice, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, vs...)
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("history\n%+v\nwant\n%+v", all, want)
	}
	del, err := h.Cat.DeletedBetween(ctx, alice, time.Unix(0, 0), time.Now().Add(time.Hour))
	if err != nil || len(del) != deleted || deleted == 0 {
		t.Fatalf("history has %d deletions, DeletedBetween %d (%v)", deleted, len(del), err)
	}
	last, truncated, err := h.Cat.AccountHistory(ctx, alice, 2)
	if err != nil || !truncated || !reflect.DeepEqual(last, all[len(all)-2:]) {
		t.Fatalf("limited history: %+v truncated %v, %v", last, truncated, err)
	}
}
