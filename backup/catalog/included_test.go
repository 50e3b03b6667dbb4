package catalog

import (
	"testing"

	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// TestIncludedWithinBatch: Included is answered once per account and
// batch, yet follows changes the batch itself makes to the account (moved
// to a class without backup, back again, deleted).
func TestIncludedWithinBatch(t *testing.T) {
	c, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var lsn uint64
	apply := func(tx *Txn, e event.Event) {
		t.Helper()
		lsn++
		if err := tx.Apply(redolog.Record{LSN: lsn, Time: int64(lsn), Type: uint16(e.Type()), Payload: event.MustEncode(e)}); err != nil {
			t.Fatalf("apply %T: %v", e, err)
		}
	}
	included := func(tx *Txn, want bool, when string) {
		t.Helper()
		for range 2 { // the second answer comes from the batch's cache
			in, err := tx.Included(7)
			if err != nil || in != want {
				t.Fatalf("%s: Included = %v, %v; want %v", when, in, err, want)
			}
		}
	}
	tx := c.NewTxn()
	defer tx.Close()
	included(tx, true, "unknown account")
	apply(tx, event.COSCreated{COS: event.COS{Name: "nobackup", Backup: false}})
	apply(tx, event.COSCreated{COS: event.COS{Name: "staff", Backup: true}})
	apply(tx, event.AccountCreated{Account: event.Account{ID: 7, Address: "a@example.org", COS: "staff"}})
	included(tx, true, "created in a class with backup")
	apply(tx, event.AccountModified{Account: event.Account{ID: 7, Address: "a@example.org", COS: "nobackup"}})
	included(tx, false, "moved to a class without backup")
	apply(tx, event.AccountModified{Account: event.Account{ID: 7, Address: "a@example.org", COS: "staff"}})
	included(tx, true, "moved back")
	apply(tx, event.AccountDeleted{Account: 7, Address: "a@example.org"})
	included(tx, false, "deleted")
}
