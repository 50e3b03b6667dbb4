// Command tidemark runs the tidemark mail server and every operation on its
// data: provisioning, the redo log, backups and restores.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/importer"
	"github.com/tidemark/tidemark/restore"
)

// Exit codes. Long operations run with --sync use the queue codes
// (docs/ARCHITECTURE.md "Decisions"): 0 ok, 1 failed, 2 stopped, 3 removed, 4 interrupted.
const (
	exitOK          = 0
	exitFailed      = 1
	exitStopped     = 2
	exitRemoved     = 3
	exitInterrupted = 4
	// exitIncomplete: the command ran to its end but did not do all it was
	// asked: a restore that stopped before the end of the repository, a
	// restore or export whose report lists items it could not bring
	// (restore.ErrIncomplete), an import whose report lists messages it
	// could not import (importer.ErrIncomplete).
	exitIncomplete = 5
	exitUsage      = 64 // bad command line (sysexits EX_USAGE)
)

// usageError marks a bad command line, so main exits with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode maps an error from a command to the documented exit code.
func exitCode(err error) int {
	var ue usageError
	var oe opExitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &oe):
		return oe.code()
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, restore.ErrIncomplete), errors.Is(err, importer.ErrIncomplete):
		return exitIncomplete
	}
	return exitFailed
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "tidemark",
		Short:         "Mail storage with a redo log, real-time backup and point-in-time restore",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, add := range commands {
		root.AddCommand(add())
	}
	return root
}

// commands lists the constructors of the top-level commands; each command's
// file adds itself in an init function so this file never needs editing.
var commands []func() *cobra.Command

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidemark:", err)
	}
	os.Exit(exitCode(err))
}
