package engine

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"
)

// randomWorkload drives a seeded random mix of every mailbox and
// provisioning command, checkpointing now and then so blob collection runs.
// Errors the model predicts (quota, not found) are tolerated; any other
// error fails the test.
func randomWorkload(t testing.TB, e *Engine, seed int64, steps int) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	must(t, e.CreateDomain(ctx, "w.example"))
	var accts []uint64
	newAcct := func() {
		q := int64(0)
		if rng.Intn(3) == 0 {
			q = 20000
		}
		a, err := e.CreateAccount(ctx, AccountSpec{Address: fmt.Sprintf("u%d@w.example", rng.Int63()), Quota: &q})
		must(t, err)
		accts = append(accts, a.ID)
	}
	newAcct()
	newAcct()
	bodies := make([][]byte, 12)
	for i := range bodies {
		n := 50 + rng.Intn(3000)
		if i%4 == 0 {
			n += 70000 // above the default inline limit: blob-first
		}
		bodies[i] = []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s", i, strings.Repeat(string(rune('a'+i)), n)))
	}
	pick := func(xs []uint64) uint64 { return xs[rng.Intn(len(xs))] }
	folderIDs := func(acct uint64) []uint64 {
		fs, err := e.ListFolders(ctx, acct)
		must(t, err)
		var ids []uint64
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
		return ids
	}
	someItems := func(acct, folder uint64) []uint64 {
		items, err := e.ListItems(ctx, acct, folder)
		must(t, err)
		var ids []uint64
		for _, it := range items {
			if rng.Intn(2) == 0 {
				ids = append(ids, it.ID)
			}
		}
		return ids
	}
	ok := func(err error) {
		t.Helper()
		if err != nil && !isExpected(err) {
			t.Fatalf("workload: %v", err)
		}
	}
	for i := 0; i < steps; i++ {
		acct := pick(accts)
		switch op := rng.Intn(20); {
		case op < 6:
			rcpts := []uint64{acct}
			if rng.Intn(3) == 0 {
				rcpts = append(rcpts, pick(accts))
			}
			_, err := e.Deliver(ctx, Delivery{Recipients: rcpts, Body: bodies[rng.Intn(len(bodies))],
				InternalDate: time.Unix(int64(1e9+i), 0)})
			ok(err)
		case op < 8:
			f := pick(folderIDs(acct))
			_, err := e.StoreFlags(ctx, acct, f, someItems(acct, f), FlagOp(rng.Intn(3)),
				[]string{`\Seen`, `\Deleted`, "$k"}[:1+rng.Intn(3)], 0)
			ok(err)
		case op < 10:
			fs := folderIDs(acct)
			from, to := pick(fs), pick(fs)
			if from != to {
				_, err := e.Move(ctx, acct, from, someItems(acct, from), to)
				ok(err)
			}
		case op < 11:
			fs := folderIDs(acct)
			from := pick(fs)
			_, err := e.Copy(ctx, acct, from, someItems(acct, from), pick(fs))
			ok(err)
		case op < 13:
			f := pick(folderIDs(acct))
			var items []uint64
			if rng.Intn(2) == 0 {
				items = someItems(acct, f)
			}
			_, err := e.Expunge(ctx, acct, f, items)
			ok(err)
		case op < 14:
			_, err := e.CreateFolder(ctx, acct, fmt.Sprintf("F%d", rng.Intn(5)), "")
			ok(err)
		case op < 15:
			f := pick(folderIDs(acct))
			ok(e.RenameFolder(ctx, acct, f, fmt.Sprintf("R%d", rng.Intn(5))))
		case op < 16:
			ok(e.DeleteFolder(ctx, acct, pick(folderIDs(acct))))
		case op < 17:
			ok(e.AddAlias(ctx, acct, fmt.Sprintf("al%d@w.example", rng.Intn(10))))
		case op < 18:
			if len(accts) > 2 && rng.Intn(2) == 0 {
				j := rng.Intn(len(accts))
				must(t, e.DeleteAccount(ctx, accts[j]))
				accts = append(accts[:j], accts[j+1:]...)
			} else {
				newAcct()
			}
		default:
			must(t, e.Checkpoint(ctx))
		}
	}
}

func isExpected(err error) bool {
	for _, s := range []error{ErrQuotaExceeded, ErrNotFound, ErrExists, ErrInvalid, ErrFolderNotEmpty} {
		if errorsIs(err, s) {
			return true
		}
	}
	return false
}

// mailboxDump is a readable, sorted picture of every account's items
// (address, folder path, UID, flags, content hash), read back through the
// public API, blobs included.
func mailboxDump(t testing.TB, e *Engine) string {
	t.Helper()
	accts, err := e.ListAccounts(ctx, "")
	must(t, err)
	var lines []string
	for _, a := range accts {
		fs, err := e.ListFolders(ctx, a.ID)
		must(t, err)
		for _, f := range fs {
			items, err := e.ListItems(ctx, a.ID, f.ID)
			must(t, err)
			for _, it := range items {
				b, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
				must(t, err)
				if sha256.Sum256(b) != it.Digest {
					t.Fatalf("item %d/%d: blob content does not match its digest", a.ID, it.ID)
				}
				lines = append(lines, fmt.Sprintf("%s %s %d %d %v %x", a.Address, f.Path, it.UID, it.ID, it.Flags, it.Digest[:6]))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestReplayDeterminism(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			fs := newMem()
			e := openTest(t, fs, "data")
			randomWorkload(t, e, seed, 300)
			must(t, e.Check(ctx))
			want, err := e.StateDigest(ctx)
			must(t, err)
			dump := mailboxDump(t, e)
			last := e.AppliedLSN()
			t.Logf("seed %d: %d records, %d items", seed, last, strings.Count(dump, "\n")+1)
			must(t, e.Close())

			// Rebuild the projection from the redo log alone.
			must(t, fs.RemoveAll("data/meta"))
			e2 := openTest(t, fs, "data")
			defer e2.Close()
			if e2.AppliedLSN() != last {
				t.Fatalf("replayed to %d, want %d", e2.AppliedLSN(), last)
			}
			got, err := e2.StateDigest(ctx)
			must(t, err)
			if got != want {
				t.Fatalf("state digest after replay %s, want %s", got, want)
			}
			if d2 := mailboxDump(t, e2); d2 != dump {
				t.Fatalf("mailboxes differ after replay")
			}
			must(t, e2.Check(ctx))
			if !bytes.Contains([]byte(dump), []byte("@w.example")) {
				t.Fatal("workload stored nothing")
			}
		})
	}
}
