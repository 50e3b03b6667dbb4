package repository

import (
	"context"
	"errors"

	"github.com/tidemark/tidemark/redolog"
)

// LogReader reads records in LSN order.
type LogReader interface {
	Next(ctx context.Context) (redolog.Record, error)
	Close() error
}

// IsTruncated reports a reader asked for records the log no longer holds:
// trimmed away, or lost in a recorded gap (redolog repair --accept-gap).
// Either way the scanner cannot ship them and a SmartScan covers them.
func IsTruncated(err error) bool {
	return errors.Is(err, redolog.ErrTruncated) || errors.Is(err, redolog.ErrGap)
}

// History is the redo log as the ownership check reads it; scanner.LogSource and
// a redo log directory reader fit. NewReader(0) starts at the oldest
// record held; Next returns io.EOF at the end.
type History interface {
	NewReader(from uint64) (LogReader, error)
}
