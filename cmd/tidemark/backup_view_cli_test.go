package main

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestBackupViewOnServer: the real server serves each user's backup as
// Backup/ folders over IMAP: a folder at a time before an expunge holds
// what was expunged, Backup/Deleted lists it once the scanner has the
// expunge, COPY from the view restores into INBOX, and a class of service
// with the view off refuses it.
func TestBackupViewOnServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "cos", "create", "noview", "--backup-view=false", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	tm(t, bin, "account", "create", "carol@example.org", "--password", "pw", "--cos", "noview", "--data", dir)
	srv := startServer(t, bin, dir)
	defer func() { srv.stop(t) }()

	var acked sync.Map
	deliverN(t, srv.lmtp, "v", 5, &acked)
	waitShipped(t, bin, dir, 5)
	time.Sleep(10 * time.Millisecond)
	t1 := time.Now().UTC()
	time.Sleep(10 * time.Millisecond)

	c, err := imapclient.DialInsecure(srv.imap, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var first2 imap.SeqSet
	first2.AddRange(1, 2)
	if err := c.Store(first2, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	// Backup/Deleted shows the two once the scanner has shipped the expunge.
	deadline := time.Now().Add(20 * time.Second)
	for {
		sel, err := c.Select("Backup/Deleted", nil).Wait()
		if err == nil && sel.NumMessages == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Backup/Deleted: %+v %v\n%s", sel, err, srv.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	name := "Backup/" + t1.Format(time.RFC3339Nano) + "/INBOX"
	sel, err := c.Select(name, nil).Wait()
	if err != nil || sel.NumMessages != 5 {
		t.Fatalf("select %s: %+v %v", name, sel, err)
	}
	today := "Backup/" + time.Now().UTC().Format("2006-01-02") + "/INBOX"
	if sel, err := c.Select(today, nil).Wait(); err != nil || sel.NumMessages != 3 {
		t.Fatalf("select %s: %+v %v", today, sel, err)
	}
	if _, err := c.Select(name, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(first2, "INBOX").Wait(); err != nil {
		t.Fatalf("copy back: %v", err)
	}
	if st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil || *st.NumMessages != 5 {
		t.Fatalf("INBOX after copy back: %+v %v", st, err)
	}
	// A point-in-time login: the whole account at t1.
	ca, err := imapclient.DialInsecure(srv.imap, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if err := ca.Login("alice@example.org+at="+t1.Format(time.RFC3339Nano), "pw").Wait(); err != nil {
		t.Fatalf("login +at: %v", err)
	}
	if sel, err := ca.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 5 {
		t.Fatalf("INBOX at t1 in a +at session: %+v %v", sel, err)
	}
	// Carol's class of service turns the view off.
	cc, err := imapclient.DialInsecure(srv.imap, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := cc.Login("carol@example.org", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Select("Backup/"+t1.Format(time.RFC3339Nano)+"/INBOX", nil).Wait(); err == nil {
		t.Fatal("carol selected a backup folder with the view off")
	}
}
