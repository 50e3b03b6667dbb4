package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/restore/view"
)

// TestBackupViewTimezoneConfig: imap.backup_view_timezone names the zone
// of the view's days; "" is the server's own zone; a name that is not a
// zone is refused when the configuration is read.
func TestBackupViewTimezoneConfig(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, err := parseConfig([]byte("[imap]\nbackup_view_timezone = \"Europe/Rome\"\n"), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	v := newBackupViews(nil, cfg, nil, log)
	if got := v.opts.Location.String(); got != "Europe/Rome" {
		t.Fatalf("view location %s, want Europe/Rome", got)
	}
	// Backup/2026-12-01 is the account at the end of that day in Rome:
	// 22:59:59.999999999 UTC in winter.
	n, ok, err := view.ParseName(v.opts.Prefix, "Backup/2026-12-01/INBOX", v.opts.Location)
	if err != nil || !ok {
		t.Fatalf("parse: %v %v", ok, err)
	}
	if want := time.Date(2026, 12, 1, 22, 59, 59, 999999999, time.UTC); !n.At.Equal(want) {
		t.Fatalf("Backup/2026-12-01 is %s, want %s", n.At.UTC(), want)
	}
	cfg, err = parseConfig(nil, "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if v := newBackupViews(nil, cfg, nil, log); v.opts.Location != time.Local {
		t.Fatalf("default location %s, want the server's own (Local)", v.opts.Location)
	}
	_, err = parseConfig([]byte("[imap]\nbackup_view_timezone = \"Mars/Olympus\"\n"), "test.toml")
	if err == nil || !strings.Contains(err.Error(), "imap.backup_view_timezone") {
		t.Fatalf("bad zone: %v", err)
	}
}

// TestBackupViewTimezoneOnServer: the real server names the view's days
// in the configured zone: a zone whose date is not UTC's now lists today
// as that zone's date, and UTC's date not at all.
func TestBackupViewTimezoneOnServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	// A zone whose date differs from UTC's at this hour.
	zone := "Etc/GMT+12" // UTC-12: the day before UTC's until noon UTC
	if time.Now().UTC().Hour() >= 12 {
		zone = "Pacific/Kiritimati" // UTC+14: the day after UTC's from 10:00 UTC
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	conf := filepath.Join(dir, configFile)
	raw, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "backup_view_timezone = \"\"") {
		t.Fatalf("init wrote no backup_view_timezone:\n%s", raw)
	}
	raw = []byte(strings.Replace(string(raw), "backup_view_timezone = \"\"", "backup_view_timezone = \""+zone+"\"", 1))
	if err := os.WriteFile(conf, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tm(t, bin, "domain", "create", "example.org", "--data", dir)
	tm(t, bin, "account", "create", "alice@example.org", "--password", "pw", "--data", dir)
	srv := startServer(t, bin, dir)
	defer func() { srv.stop(t) }()
	var acked sync.Map
	deliverN(t, srv.lmtp, "tz", 1, &acked)
	waitShipped(t, bin, dir, 1)

	c, err := imapclient.DialInsecure(srv.imap, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	zoneDay, utcDay := now.In(loc).Format("2006-01-02"), now.UTC().Format("2006-01-02")
	if zoneDay == utcDay { // the hour turned while the test ran
		t.Skipf("%s and UTC have the same date now", zone)
	}
	days, err := c.List("", "Backup/%", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range days {
		names = append(names, d.Mailbox)
	}
	if !strings.Contains(strings.Join(names, " "), "Backup/"+zoneDay) || strings.Contains(strings.Join(names, " "), "Backup/"+utcDay) {
		t.Fatalf("days listed %q: want Backup/%s (today in %s), not Backup/%s (UTC)", names, zoneDay, zone, utcDay)
	}
	if _, err := c.Select("Backup/"+zoneDay+"/INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("select today's INBOX in %s: %v", zone, err)
	}
}
