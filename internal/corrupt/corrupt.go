// Package corrupt is the one marker of damaged data that every tidemark
// package's ErrCorrupt carries, so that a caller (verify, restore, the
// command line's exit codes, the retry policy) tells corruption from any
// other failure with one test, whichever layer found it:
//
//	errors.Is(err, corrupt.ErrCorrupt)
//
// Each package keeps its own sentinel (redolog.ErrCorrupt,
// dedup.ErrCorrupt, ...) made with New, so errors.Is against it works as
// before.
package corrupt

import "errors"

// ErrCorrupt matches, with errors.Is, every error made by New and every
// error that wraps one.
var ErrCorrupt = errors.New("corrupt data")

// New returns a corruption sentinel with its own text (with the package
// prefix, "redolog: corrupt"): it is itself, and it is ErrCorrupt.
func New(text string) error { return &sentinel{text} }

type sentinel struct{ text string }

func (s *sentinel) Error() string { return s.text }

// Is makes errors.Is(s, ErrCorrupt) true.
func (s *sentinel) Is(target error) bool { return target == ErrCorrupt }

// Is reports whether err marks damaged data.
func Is(err error) bool { return errors.Is(err, ErrCorrupt) }
