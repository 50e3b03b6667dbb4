package operations

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Schedule is when a recurring job runs: every day, or one day a week, at
// a wall-clock time in the clock's location. The zero Schedule is off.
type Schedule struct {
	On      bool
	Weekly  bool
	Weekday time.Weekday
	Hour    int
	Minute  int
}

// ParseSchedule reads "off", "daily HH:MM" or "weekly DAY HH:MM" (DAY a
// weekday name in English, full or its first three letters).
func ParseSchedule(s string) (Schedule, error) {
	f := strings.Fields(strings.ToLower(s))
	bad := func(why string) (Schedule, error) {
		return Schedule{}, fmt.Errorf("schedule %q: %s (want \"off\", \"daily HH:MM\" or \"weekly DAY HH:MM\")", s, why)
	}
	if len(f) == 0 || (len(f) == 1 && f[0] == "off") {
		return Schedule{}, nil
	}
	var sc Schedule
	var clock string
	switch {
	case f[0] == "daily" && len(f) == 2:
		clock = f[1]
	case f[0] == "weekly" && len(f) == 3:
		d, ok := weekdays[f[1]]
		if !ok {
			return bad("unknown day " + f[1])
		}
		sc.Weekly, sc.Weekday, clock = true, d, f[2]
	default:
		return bad("unrecognised")
	}
	hh, mm, ok := strings.Cut(clock, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(mm) != 2 {
		return bad("bad time " + clock)
	}
	sc.On, sc.Hour, sc.Minute = true, h, m
	return sc, nil
}

var weekdays = map[string]time.Weekday{}

func init() {
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		weekdays[name] = d
		weekdays[name[:3]] = d
	}
}

// String is the schedule in the form ParseSchedule reads.
func (s Schedule) String() string {
	switch {
	case !s.On:
		return "off"
	case s.Weekly:
		return fmt.Sprintf("weekly %s %02d:%02d", strings.ToLower(s.Weekday.String()), s.Hour, s.Minute)
	}
	return fmt.Sprintf("daily %02d:%02d", s.Hour, s.Minute)
}

// Next is the first time strictly after t at which s is due, in t's
// location; the zero time when s is off. A wall-clock time that a daylight
// saving change skips runs at the time time.Date normalises it to.
func (s Schedule) Next(t time.Time) time.Time {
	if !s.On {
		return time.Time{}
	}
	for i := 0; i <= 8; i++ {
		d := t.AddDate(0, 0, i)
		c := time.Date(d.Year(), d.Month(), d.Day(), s.Hour, s.Minute, 0, 0, t.Location())
		if !c.After(t) || (s.Weekly && c.Weekday() != s.Weekday) {
			continue
		}
		return c
	}
	return time.Time{} // unreachable: every weekday occurs within 8 days
}

// Entry is one scheduled job.
type Entry struct {
	Name   string // shown in "schedule show" and in the operations it submits
	Kind   string
	Params json.RawMessage
	When   Schedule
}

// Planned is an entry with its next run.
type Planned struct {
	Name string    `json:"name"`
	Kind string    `json:"kind"`
	When string    `json:"when"`
	Next time.Time `json:"next,omitzero"`
	// Last is the id of the operation the entry last submitted since the
	// scheduler started (0: none yet).
	Last uint64 `json:"last,omitempty"`
}

// SchedulerOptions configures a Scheduler. Zero fields take the defaults.
type SchedulerOptions struct {
	// Now and After are the clock: After(d) fires once d has passed on
	// it. Default the wall clock (time.Now, time.After).
	Now    func() time.Time
	After  func(time.Duration) <-chan time.Time
	Logger *slog.Logger
}

// Scheduler submits its entries to a Manager when they are due. An entry
// whose previous operation is still queued is not queued again (it is
// logged and skipped until its next turn).
type Scheduler struct {
	m       *Manager
	entries []Entry
	opts    SchedulerOptions

	mu   sync.Mutex
	last map[string]uint64
}

// NewScheduler makes a scheduler of entries over m. Entries that are off
// are kept (Plan shows them) but never run.
func NewScheduler(m *Manager, entries []Entry, o *SchedulerOptions) *Scheduler {
	var opts SchedulerOptions
	if o != nil {
		opts = *o
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Scheduler{m: m, entries: entries, opts: opts, last: map[string]uint64{}}
}

// Plan lists the entries with their next run after now.
func (s *Scheduler) Plan() []Planned {
	return PlanAt(s.entries, s.opts.Now(), s.lastIDs())
}

func (s *Scheduler) lastIDs() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(map[string]uint64, len(s.last))
	for k, v := range s.last {
		c[k] = v
	}
	return c
}

// PlanAt lists entries with their next run after now, for a process that
// runs no scheduler ("schedule show" without a server).
func PlanAt(entries []Entry, now time.Time, last map[string]uint64) []Planned {
	out := make([]Planned, 0, len(entries))
	for _, e := range entries {
		out = append(out, Planned{Name: e.Name, Kind: e.Kind, When: e.When.String(), Next: e.When.Next(now), Last: last[e.Name]})
	}
	return out
}

// Run submits due entries until ctx ends. Times due while the process was
// not running are not caught up: an entry runs at its next turn.
func (s *Scheduler) Run(ctx context.Context) {
	now := s.opts.Now()
	next := make([]time.Time, len(s.entries))
	for i, e := range s.entries {
		next[i] = e.When.Next(now)
	}
	for {
		var soonest time.Time
		for _, t := range next {
			if !t.IsZero() && (soonest.IsZero() || t.Before(soonest)) {
				soonest = t
			}
		}
		if soonest.IsZero() {
			<-ctx.Done()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.opts.After(soonest.Sub(now)):
		}
		now = s.opts.Now()
		for i, e := range s.entries {
			if next[i].IsZero() || now.Before(next[i]) {
				continue
			}
			s.fire(e)
			next[i] = e.When.Next(now)
		}
	}
}

// fire submits e unless its previous operation is still queued.
func (s *Scheduler) fire(e Entry) {
	s.mu.Lock()
	prev := s.last[e.Name]
	s.mu.Unlock()
	if prev != 0 {
		if op, err := s.m.Get(prev); err == nil && op.State == Queued {
			s.opts.Logger.Warn("scheduled operation not queued again: the previous one is still waiting",
				"schedule", e.Name, "previous", prev)
			return
		}
	}
	op, err := s.m.Submit(Request{Kind: e.Kind, Params: e.Params, Schedule: e.Name})
	if err != nil {
		s.opts.Logger.Error("scheduled operation not submitted", "schedule", e.Name, "kind", e.Kind, "err", err)
		return
	}
	s.mu.Lock()
	s.last[e.Name] = op.ID
	s.mu.Unlock()
}
