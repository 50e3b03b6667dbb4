package importer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Progress receives the position of a running import. Update is called
// from the import's goroutine, after each committed batch and at most
// every Options.ProgressEvery; it must not block for long.
type Progress interface {
	Update(Status)
}

// ProgressFunc adapts a function to Progress.
type ProgressFunc func(Status)

// Update calls f.
func (f ProgressFunc) Update(s Status) { f(s) }

// Status is an import's position. Totals are estimates (a remote folder's
// count is known once it is opened); TotalMessages is -1 when unknown.
type Status struct {
	Folder        string        `json:"folder"`
	Messages      int64         `json:"messages"` // read so far: imported, skipped or failed
	Bytes         int64         `json:"bytes"`
	TotalMessages int64         `json:"total_messages"`
	Imported      int64         `json:"imported"`
	Skipped       int64         `json:"skipped"`
	Failed        int64         `json:"failed"`
	Elapsed       time.Duration `json:"elapsed"`
	Rate          float64       `json:"rate"`      // messages per second
	ByteRate      float64       `json:"byte_rate"` // bytes per second
	ETA           time.Duration `json:"eta"`       // -1 when unknown
}

// String is a one-line form for logs and terminals.
func (s Status) String() string {
	total := "?"
	if s.TotalMessages >= 0 {
		total = fmt.Sprint(s.TotalMessages)
	}
	eta := "?"
	if s.ETA >= 0 {
		eta = s.ETA.Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %d/%s messages, %.1f MB, %.0f msg/s, %.1f MB/s, ETA %s (%d imported, %d skipped, %d failed)",
		s.Folder, s.Messages, total, float64(s.Bytes)/1e6, s.Rate, s.ByteRate/1e6, eta, s.Imported, s.Skipped, s.Failed)
}

// maxFailuresListed bounds the failures a report lists one by one; the
// counts stay exact.
const maxFailuresListed = 1000

// Report says what an import did.
type Report struct {
	Source   string         `json:"source"`
	Account  string         `json:"account"`
	Folders  []FolderReport `json:"folders"`
	Imported int64          `json:"imported"`
	Skipped  int64          `json:"skipped"` // already in tidemark (a rerun after an interruption)
	Failed   int64          `json:"failed"`
	Bytes    int64          `json:"bytes"` // of the imported messages
	// FlagsDropped counts flags tidemark cannot store, left off messages
	// that were imported.
	FlagsDropped int64         `json:"flags_dropped,omitempty"`
	Failures     []Failure     `json:"failures,omitempty"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	// Stopped says why the import ended before the end of the source,
	// and where; empty when it read everything.
	Stopped string `json:"stopped,omitempty"`
}

// FolderReport is the part of a Report about one source folder.
type FolderReport struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	Imported int64  `json:"imported"`
	Skipped  int64  `json:"skipped"`
	Failed   int64  `json:"failed"`
}

// Failure is one message (or folder) that was not imported, and why.
type Failure struct {
	Folder  string `json:"folder"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason"`
}

func (r *Report) fail(f Failure) {
	r.Failed++
	if len(r.Failures) < maxFailuresListed {
		r.Failures = append(r.Failures, f)
	}
}

// String is the report as the CLI prints it.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "import %s into %s: %d imported (%.1f MB), %d skipped, %d failed in %s\n",
		r.Source, r.Account, r.Imported, float64(r.Bytes)/1e6, r.Skipped, r.Failed, r.Elapsed.Round(time.Millisecond))
	for _, f := range r.Folders {
		fmt.Fprintf(&b, "  %s -> %s: %d imported, %d skipped, %d failed\n", f.Source, f.Target, f.Imported, f.Skipped, f.Failed)
	}
	if r.FlagsDropped > 0 {
		fmt.Fprintf(&b, "  %d flags tidemark cannot store were left off\n", r.FlagsDropped)
	}
	for _, f := range r.Failures {
		if f.Message != "" {
			fmt.Fprintf(&b, "  failed: %s %s: %s\n", f.Folder, f.Message, f.Reason)
		} else {
			fmt.Fprintf(&b, "  failed: %s: %s\n", f.Folder, f.Reason)
		}
	}
	if n := r.Failed - int64(len(r.Failures)); n > 0 {
		fmt.Fprintf(&b, "  ... and %d more failures\n", n)
	}
	if r.Stopped != "" {
		fmt.Fprintf(&b, "stopped: %s\n", r.Stopped)
	}
	return b.String()
}

// ErrIncomplete marks an import that read its whole source but could not
// import every message (the report lists them); the CLI exits 5 for it.
var ErrIncomplete = errors.New("importer: incomplete")
