package operations

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// State is where an operation is in its life.
type State string

// The states of an operation; see the package documentation.
const (
	Queued      State = "queued"
	Running     State = "running"
	Done        State = "done"
	Failed      State = "failed"
	Stopped     State = "stopped"
	Interrupted State = "interrupted"
)

// Ended reports whether s is final.
func (s State) Ended() bool {
	switch s {
	case Done, Failed, Stopped, Interrupted:
		return true
	}
	return false
}

// Lane is a queue: operations of one lane run one at a time, in submission
// order; different lanes run at the same time.
type Lane string

// The lanes.
const (
	// LaneBackup runs backups (SmartScan, purge, verify, export) and
	// restores.
	LaneBackup Lane = "backup"
	// LaneStorage runs storage management (HSM moves).
	LaneStorage Lane = "storage"
)

// Lanes lists every lane.
var Lanes = []Lane{LaneBackup, LaneStorage}

// Errors.
var (
	ErrNotFound    = errors.New("operations: no such operation")
	ErrUnknownKind = errors.New("operations: unknown kind of operation")
	ErrEnded       = errors.New("operations: operation already ended")
	ErrLocked      = errors.New("operations: directory in use by another process")
	ErrClosed      = errors.New("operations: manager closed")
	// ErrStopped is the cause of a running operation's context
	// cancellation by Stop.
	ErrStopped = errors.New("operations: stopped by the administrator")
	// ErrShutdown is the cause of a running operation's context
	// cancellation when the manager closes.
	ErrShutdown = errors.New("operations: server shutting down")
)

// Job runs one operation. params are those given at submission. It reports
// progress on p and returns its report (marshalled to JSON; nil for none)
// and an error. When ctx is cancelled (Stop, or the manager closing), the
// job stops at its next safe point, leaving a consistent state, and
// returns the partial report with ctx's error. Jobs must be safe to run
// again with the same parameters after an interruption.
type Job func(ctx context.Context, params json.RawMessage, p *Tracker) (report any, err error)

// Progress is how far a running operation got. Totals are 0 when unknown.
// Rates and ETA are computed when the operation is read.
type Progress struct {
	Items       int64   `json:"items"`
	ItemsTotal  int64   `json:"items_total,omitempty"`
	Bytes       int64   `json:"bytes"`
	BytesTotal  int64   `json:"bytes_total,omitempty"`
	ItemsPerSec float64 `json:"items_per_sec,omitempty"`
	BytesPerSec float64 `json:"bytes_per_sec,omitempty"`
	ETASeconds  float64 `json:"eta_seconds,omitempty"`
	Step        string  `json:"step,omitempty"` // what it is working on
}

// Fraction is the share done, from bytes when their total is known, else
// items; -1 when neither total is known.
func (p Progress) Fraction() float64 {
	switch {
	case p.BytesTotal > 0:
		return min(1, float64(p.Bytes)/float64(p.BytesTotal))
	case p.ItemsTotal > 0:
		return min(1, float64(p.Items)/float64(p.ItemsTotal))
	}
	return -1
}

// Operation is one submitted job and what became of it.
type Operation struct {
	ID     uint64          `json:"id"`
	Kind   string          `json:"kind"`
	Lane   Lane            `json:"lane"`
	Params json.RawMessage `json:"params,omitempty"`
	State  State           `json:"state"`
	// Schedule names the schedule entry that submitted it ("" when an
	// administrator did).
	Schedule string `json:"schedule,omitempty"`
	// ResubmitOf is the interrupted operation this one repeats.
	ResubmitOf uint64    `json:"resubmit_of,omitempty"`
	Progress   Progress  `json:"progress"`
	Submitted  time.Time `json:"submitted"`
	Started    time.Time `json:"started,omitzero"`
	Ended      time.Time `json:"ended,omitzero"`
	Error      string    `json:"error,omitempty"`
	// ErrorClass is Options.Classify's name for a failure's error.
	ErrorClass string          `json:"error_class,omitempty"`
	Report     json.RawMessage `json:"report,omitempty"`
}

// Request is what Submit queues.
type Request struct {
	Kind       string
	Params     json.RawMessage // nil: no parameters
	Schedule   string
	ResubmitOf uint64
}
