package restore

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Report says what a restore did. Counts are items (messages); an account
// counts once in Accounts whatever happened to its items.
type Report struct {
	Mode       string          `json:"mode"`
	At         time.Time       `json:"at,omitzero"`
	Accounts   []AccountReport `json:"accounts"`
	Restored   int             `json:"restored"`
	Skipped    int             `json:"skipped"`
	Unrestored int             `json:"unrestored"`
}

// AccountReport is the part of a Report about one account.
type AccountReport struct {
	Source        uint64    `json:"source"`
	SourceAddress string    `json:"source_address"`
	Target        uint64    `json:"target,omitempty"`
	TargetAddress string    `json:"target_address,omitempty"`
	Folders       int       `json:"folders"` // folders created or renamed
	Restored      int       `json:"restored"`
	Skipped       int       `json:"skipped"`
	Removed       int       `json:"removed,omitempty"` // in-place: items expunged to match T
	Unrestored    []Failure `json:"unrestored,omitempty"`
	Note          string    `json:"note,omitempty"`
}

// Failure is one item (or folder) that could not be restored, and why.
type Failure struct {
	Item   uint64 `json:"item,omitempty"`
	Folder string `json:"folder,omitempty"`
	Reason string `json:"reason"`
}

// Progress is a restore's position within one account.
type Progress struct {
	Account    string
	Done       int
	Total      int
	Unrestored int
}

// add folds an account report into the totals.
func (r *Report) add(a AccountReport) {
	r.Accounts = append(r.Accounts, a)
	r.Restored += a.Restored
	r.Skipped += a.Skipped
	r.Unrestored += len(a.Unrestored)
}

// Incomplete returns nil when everything the restore was asked for was
// restored (or skipped as already there), otherwise an error wrapping
// ErrIncomplete with the count of unrestored items and folders, which the
// report lists with their reasons.
func (r Report) Incomplete() error {
	if r.Unrestored == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d items or folders were not restored (listed in the report with the reason): %w",
		r.Mode, r.Unrestored, ErrIncomplete)
}

// String is the report as the CLI prints it.
func (r Report) String() string {
	s := fmt.Sprintf("%s: %d restored, %d skipped, %d unrestored\n", r.Mode, r.Restored, r.Skipped, r.Unrestored)
	for _, a := range r.Accounts {
		s += fmt.Sprintf("  %s (%d)", a.SourceAddress, a.Source)
		if a.TargetAddress != "" {
			s += fmt.Sprintf(" -> %s (%d)", a.TargetAddress, a.Target)
		}
		s += fmt.Sprintf(": %d restored, %d skipped, %d unrestored", a.Restored, a.Skipped, len(a.Unrestored))
		if a.Removed > 0 {
			s += fmt.Sprintf(", %d removed", a.Removed)
		}
		if a.Note != "" {
			s += " (" + a.Note + ")"
		}
		s += "\n"
		for _, f := range a.Unrestored {
			switch {
			case f.Item != 0:
				s += fmt.Sprintf("    item %d in %q: %s\n", f.Item, f.Folder, f.Reason)
			default:
				s += fmt.Sprintf("    folder %q: %s\n", f.Folder, f.Reason)
			}
		}
	}
	return s
}

// tally collects one account's outcome from several goroutines and reports
// progress.
type tally struct {
	mu      sync.Mutex
	rep     *AccountReport
	total   int
	done    int
	every   int
	observe func(Progress)
}

func newTally(rep *AccountReport, total int, o Options) *tally {
	return &tally{rep: rep, total: total, every: o.ProgressEvery, observe: o.Progress}
}

func (t *tally) restored() { t.step(func() { t.rep.Restored++ }) }
func (t *tally) skipped()  { t.step(func() { t.rep.Skipped++ }) }

func (t *tally) failed(f Failure) {
	t.step(func() { t.rep.Unrestored = append(t.rep.Unrestored, f) })
}

func (t *tally) step(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn()
	t.done++
	if t.observe != nil && t.done%t.every == 0 {
		t.observe(t.progress())
	}
}

func (t *tally) progress() Progress {
	return Progress{Account: t.rep.SourceAddress, Done: t.done, Total: t.total, Unrestored: len(t.rep.Unrestored)}
}

// finish sorts the failures and reports the final progress.
func (t *tally) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	sort.Slice(t.rep.Unrestored, func(i, j int) bool { return t.rep.Unrestored[i].Item < t.rep.Unrestored[j].Item })
	if t.observe != nil {
		t.observe(t.progress())
	}
}
