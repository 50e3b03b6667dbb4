package operations

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestParseScheduleAndNext(t *testing.T) {
	loc := time.UTC
	sat := time.Date(2026, 11, 28, 1, 30, 0, 0, loc) // a Saturday
	for _, c := range []struct {
		in   string
		str  string
		next time.Time
	}{
		{"daily 02:00", "daily 02:00", time.Date(2026, 11, 28, 2, 0, 0, 0, loc)},
		{"Weekly Sun 03:00", "weekly sunday 03:00", time.Date(2026, 11, 29, 3, 0, 0, 0, loc)},
		{"weekly saturday 01:30", "weekly saturday 01:30", time.Date(2026, 12, 5, 1, 30, 0, 0, loc)}, // strictly after
		{"daily 00:00", "daily 00:00", time.Date(2026, 11, 29, 0, 0, 0, 0, loc)},
		{"off", "off", time.Time{}},
		{"", "off", time.Time{}},
	} {
		s, err := ParseSchedule(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if s.String() != c.str || !s.Next(sat).Equal(c.next) {
			t.Errorf("%q: %s next %v, want %s next %v", c.in, s, s.Next(sat), c.str, c.next)
		}
	}
	for _, bad := range []string{"daily", "daily 24:00", "daily 2:0", "weekly funday 03:00", "hourly 02:00", "daily 02:00 extra"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSchedulerSubmitsOnTheClockAndNeverQueuesTwice(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)) // Saturday 01:00
	m := openTest(t, t.TempDir(), &Options{Now: clk.Now})
	g := newGate()
	m.Register("hold", LaneBackup, g.job)
	ran := make(chan string, 10)
	quick := func(name string) Job {
		return func(ctx context.Context, _ json.RawMessage, _ *Tracker) (any, error) { ran <- name; return nil, nil }
	}
	m.Register("backup.scan", LaneBackup, quick("scan"))
	m.Register("backup.purge", LaneBackup, quick("purge"))
	daily, _ := ParseSchedule("daily 02:00")
	weekly, _ := ParseSchedule("weekly sunday 03:00")
	s := NewScheduler(m, []Entry{
		{Name: "smartscan", Kind: "backup.scan", When: daily},
		{Name: "purge", Kind: "backup.purge", When: weekly},
	}, &SchedulerOptions{Now: clk.Now, After: clk.After, Logger: quietLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)

	plan := s.Plan()
	if len(plan) != 2 || !plan[0].Next.Equal(time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)) ||
		!plan[1].Next.Equal(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("plan %+v", plan)
	}

	// Keep the backup lane busy so the scheduled scan stays queued.
	h := submit(t, m, "hold", "h")
	g.waitStart(t, "h")

	count := func(sched string) (n int, queued int) {
		for _, op := range m.List() {
			if op.Schedule == sched {
				n++
				if op.State == Queued {
					queued++
				}
			}
		}
		return
	}
	clk.waitWaiters(t, 1)
	clk.Advance(time.Hour) // Saturday 02:00
	clk.waitWaiters(t, 1)
	if n, q := count("smartscan"); n != 1 || q != 1 {
		t.Fatalf("after 02:00: %d smartscans, %d queued", n, q)
	}
	clk.Advance(24 * time.Hour) // Sunday 02:00: the previous scan still waits
	clk.waitWaiters(t, 1)
	if n, _ := count("smartscan"); n != 1 {
		t.Fatalf("queued twice: %d smartscans", n)
	}
	clk.Advance(time.Hour) // Sunday 03:00: purge
	clk.waitWaiters(t, 1)
	if n, q := count("purge"); n != 1 || q != 1 {
		t.Fatalf("after Sunday 03:00: %d purges, %d queued", n, q)
	}

	close(g.ch("h"))
	wait(t, m, h.ID)
	for _, want := range []string{"scan", "purge"} { // submission order
		select {
		case got := <-ran:
			if got != want {
				t.Fatalf("ran %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not run", want)
		}
	}
	clk.Advance(23 * time.Hour) // Monday 02:00: queued again now the last one ran
	clk.waitWaiters(t, 1)
	if n, _ := count("smartscan"); n != 2 {
		t.Fatalf("Monday: %d smartscans", n)
	}
	if got := s.Plan()[0].Last; got == 0 {
		t.Fatalf("plan does not show the last operation")
	}
}
