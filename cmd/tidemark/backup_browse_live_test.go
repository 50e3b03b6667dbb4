package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/scanner"
)

// TestBackupBrowseWhileServing runs backup ls, item, accounts and config
// against a running server: the server answers from the catalog it holds,
// the command reads message bytes from the repository beside it, and a
// question the backup cannot answer exits with its documented code.
func TestBackupBrowseWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	s := startServer(t, bin, dir)
	defer s.stop(t)
	var acked sync.Map
	deliverN(t, s.lmtp, "live", 6, &acked)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st scanner.Status
		out := tm(t, bin, "backup", "status", "--json", "--data", dir)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if st.State == "running" && st.LagRecords == 0 && st.ShippedLSN > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup did not catch up: %+v\n%s", st, s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}

	ls := tm(t, bin, "backup", "ls", "alice@example.org", "--folder", "INBOX", "--data", dir)
	if strings.Count(ls, " INBOX ") != 6 || !strings.Contains(ls, "6 items") {
		t.Fatalf("backup ls while serving:\n%s", ls)
	}
	if ls := tm(t, bin, "backup", "ls", "alice@example.org", "--headers", "--data", dir); strings.Count(ls, "drill live") != 6 {
		t.Fatalf("backup ls --headers while serving:\n%s", ls)
	}
	var st catalog.AccountState
	if err := json.Unmarshal([]byte(tm(t, bin, "backup", "ls", "alice@example.org", "--json", "--data", dir)), &st); err != nil || len(st.Items) != 6 {
		t.Fatalf("backup ls --json: %d items, %v", len(st.Items), err)
	}
	it := st.Items[0]
	id := strconv.FormatUint(it.ID, 10)
	if out := tm(t, bin, "backup", "item", "alice@example.org", id, "--all-versions", "--data", dir); !strings.Contains(out, "live") || !strings.Contains(out, it.Digest.String()[:16]) {
		t.Fatalf("backup item while serving:\n%s", out)
	}
	body := tm(t, bin, "backup", "item", "alice@example.org", id, "--dump-blob", "--data", dir)
	if int64(len(body)) != it.Size {
		t.Fatalf("--dump-blob wrote %d bytes of %d", len(body), it.Size)
	}
	if out := tm(t, bin, "backup", "accounts", "--data", dir); !strings.Contains(out, "alice@example.org") {
		t.Fatalf("backup accounts while serving:\n%s", out)
	}
	if out := tm(t, bin, "backup", "accounts", "--deleted", "--data", dir); strings.Contains(out, "alice@example.org") {
		t.Fatalf("backup accounts --deleted lists a live account:\n%s", out)
	}

	// What the backup does not hold: exit 8, said by the server.
	_, stderr, code := tmExit(t, bin, "backup", "item", "alice@example.org", "999999", "--data", dir)
	if code != exitNotInBackup || !strings.Contains(stderr, "999999") {
		t.Fatalf("missing item: exit %d, %s", code, stderr)
	}
	_, stderr, code = tmExit(t, bin, "backup", "ls", "nobody@example.org", "--data", dir)
	if code != exitNotInBackup || !strings.Contains(stderr, "nobody@example.org") {
		t.Fatalf("unknown account: exit %d, %s", code, stderr)
	}
	if out := tm(t, bin, "backup", "config", "--data", dir); !strings.Contains(out, "[backup]") {
		t.Fatalf("backup config while serving:\n%s", out)
	}
}
