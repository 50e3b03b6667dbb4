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

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/importer"
	"github.com/tidemark/tidemark/internal/corrupt"
	"github.com/tidemark/tidemark/operations"
	"github.com/tidemark/tidemark/redolog"
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
	// exitLocked: the data directory (engine, redo log or operations
	// queue) is in use by another process, usually a running server.
	exitLocked = 6
	// exitNotFound: no such account, folder, domain or class of service.
	exitNotFound = 7
	// exitNotInBackup: the backup holds no such account or version at the
	// time asked for.
	exitNotInBackup = 8
	// exitCorrupt: damaged data (a checksum or decoding failure in the
	// redo log, a volume, a blob or the backup repository).
	exitCorrupt = 9
	exitUsage   = 64 // bad command line (sysexits EX_USAGE)
)

// usageError marks a bad command line, so main exits with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errorClasses name the exit codes a failed operation can carry across the
// admin socket (operations.Operation.ErrorClass).
var errorClasses = map[string]int{"incomplete": exitIncomplete, "corrupt": exitCorrupt, "locked": exitLocked,
	"not_in_backup": exitNotInBackup, "not_found": exitNotFound}

// errorClass names the class of err for a failed operation ("" for none).
func errorClass(err error) string {
	code := exitCode(err)
	for k, c := range errorClasses {
		if c == code {
			return k
		}
	}
	return ""
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
	case corrupt.Is(err):
		return exitCorrupt
	case errors.Is(err, engine.ErrLocked), errors.Is(err, redolog.ErrLocked), errors.Is(err, operations.ErrLocked):
		return exitLocked
	case errors.Is(err, restore.ErrNotInBackup), errors.Is(err, repository.ErrNotFound):
		return exitNotInBackup
	case errors.Is(err, engine.ErrNotFound):
		return exitNotFound
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
	setupRoot(root)
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
