package view

import (
	"errors"
	"testing"
	"time"
)

func TestParseName(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name   string
		loc    *time.Location
		ok     bool
		kind   Kind
		at     time.Time
		day    bool
		folder string
	}{
		{name: "INBOX", ok: false},
		{name: "Backups/2026-12-01/INBOX", ok: false},
		{name: "Backup", ok: true, kind: KindRoot},
		{name: "Backup/Deleted", ok: true, kind: KindDeleted},
		{name: "Backup/2026-12-01", ok: true, kind: KindPoint, day: true, at: time.Date(2026, 12, 1, 23, 59, 59, 999999999, time.UTC)},
		{name: "Backup/2026-12-01", loc: paris, ok: true, kind: KindPoint, day: true, at: time.Date(2026, 12, 1, 22, 59, 59, 999999999, time.UTC)},
		{name: "Backup/2026-12-01/inbox", ok: true, kind: KindFolder, day: true, at: time.Date(2026, 12, 1, 23, 59, 59, 999999999, time.UTC), folder: "INBOX"},
		{name: "Backup/2026-12-01T10:00:00Z/Projects/Q4", ok: true, kind: KindFolder, at: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), folder: "Projects/Q4"},
		{name: "Backup/2026-12-01T10:00:00.5+02:00/INBOX/a", ok: true, kind: KindFolder, at: time.Date(2026, 12, 1, 8, 0, 0, 5e8, time.UTC), folder: "INBOX/a"},
		{name: "Backup/2026-12-01/Deleted", ok: true, kind: KindFolder, day: true, at: time.Date(2026, 12, 1, 23, 59, 59, 999999999, time.UTC), folder: "Deleted"},
	} {
		n, ok, err := ParseName("Backup", tc.name, tc.loc)
		if err != nil || ok != tc.ok {
			t.Errorf("%q: ok %v err %v", tc.name, ok, err)
			continue
		}
		if !ok {
			continue
		}
		if n.Kind != tc.kind || !n.At.Equal(tc.at) || n.Day != tc.day || n.Folder != tc.folder {
			t.Errorf("%q: got %+v", tc.name, n)
		}
	}
	for _, bad := range []string{
		"Backup/", "Backup/yesterday", "Backup/2026-13-01/INBOX", "Backup/2026-12-01 10:00/INBOX",
		"Backup/Deleted/x", "Backup/2026-12-01//INBOX", "Backup/2026-12-01/a//b", "Backup/2026-12-01/a\x01b",
		"Backup/2026-12-01/\xff",
	} {
		if _, ok, err := ParseName("Backup", bad, nil); !ok || !errors.Is(err, ErrBadName) {
			t.Errorf("%q: ok %v err %v, want ErrBadName", bad, ok, err)
		}
	}
	// A day of a daylight-saving change ends at its real last nanosecond.
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		n, _, err := ParseName("Backup", "Backup/2026-03-08", ny)
		if err != nil || !n.At.Equal(time.Date(2026, 3, 9, 3, 59, 59, 999999999, time.UTC)) {
			t.Errorf("DST day: %v %v", n.At.UTC(), err)
		}
	}
}

func TestParseLogin(t *testing.T) {
	for _, tc := range []struct {
		login string
		user  string
		ok    bool
		at    time.Time
		last  bool
	}{
		{login: "alice@example.org", ok: false},
		{login: "alice+lists@example.org", ok: false},
		{login: "alice@example.org+at=2026-12-01T10:00:00Z", user: "alice@example.org", ok: true, at: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{login: "alice+x@example.org+at=2026-12-01 10:00", user: "alice+x@example.org", ok: true, at: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{login: "alice@example.org+at=01/12/2026 10:00:00", user: "alice@example.org", ok: true, at: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{login: "alice@example.org+at=last", user: "alice@example.org", ok: true, last: true},
	} {
		user, at, ok, err := ParseLogin(tc.login, nil)
		if err != nil || ok != tc.ok || user != tc.user || !at.Time.Equal(tc.at) || at.Last != tc.last {
			t.Errorf("%q: %q %+v %v %v", tc.login, user, at, ok, err)
		}
	}
	for _, bad := range []string{"+at=2026-12-01", "alice@example.org+at=", "alice@example.org+at=tuesday"} {
		if _, _, ok, err := ParseLogin(bad, nil); !ok || !errors.Is(err, ErrBadName) {
			t.Errorf("%q: ok %v err %v, want ErrBadName", bad, ok, err)
		}
	}
}
