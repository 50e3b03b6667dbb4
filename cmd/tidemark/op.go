package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/operations"
)

func init() { commands = append(commands, newOpCommand) }

// opExitError carries an operation's final state to main's exit code: 0
// done, 1 failed, 2 stopped, 4 interrupted.
type opExitError struct{ op operations.Operation }

func (e opExitError) Error() string {
	msg := fmt.Sprintf("operation %d (%s) %s", e.op.ID, e.op.Kind, e.op.State)
	if e.op.Error != "" {
		msg += ": " + e.op.Error
	}
	return msg
}

func (e opExitError) code() int {
	switch e.op.State {
	case operations.Failed:
		if c, ok := errorClasses[e.op.ErrorClass]; ok {
			return c // e.g. incomplete: it ran to its end, with items left out
		}
	case operations.Stopped:
		return exitStopped
	case operations.Interrupted:
		return exitInterrupted
	}
	return exitFailed
}

// opResult is nil for a done operation, else an opExitError.
func opResult(op operations.Operation) error {
	if op.State == operations.Done {
		return nil
	}
	return opExitError{op}
}

type opOptions struct {
	dataDir string
	json    bool
	sync    bool
	// reportOnly prints an ended operation's report alone, as the backup
	// and restore commands did before they ran as operations.
	reportOnly bool
}

func parseOpID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usagef("%q is not an operation id (see tidemark op list)", s)
	}
	return id, nil
}

func newOpCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "op",
		Short: "List, watch and stop long operations (restores, scans, purges, verifies, exports)",
		Long: `Long jobs run as operations in two queues (backup: backups and restores;
storage: HSM moves), each one at a time in submission order, the two side by
side. A running server runs them live; "op" commands talk to it over the admin
socket. Without a server they read the operations recorded in the data
directory. Exit codes of watch and --sync: 0 done, 1 failed, 2 stopped,
4 interrupted.`,
	}
	cmd.AddCommand(newOpListCommand(), newOpShowCommand(), newOpWatchCommand(), newOpStopCommand(),
		newOpResubmitCommand(), newOpSubmitCommand(), newOpLaneCommand("pause"), newOpLaneCommand("resume"))
	return cmd
}

func opFlags(cmd *cobra.Command, o *opOptions) {
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
}

func newOpListCommand() *cobra.Command {
	var o opOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the operations, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var l opsList
			if served, err := callServer(c.Context(), o.dataDir, "op.list", nil, &l); served {
				if err != nil {
					return err
				}
			} else {
				ops, err := localOperations(o.dataDir)
				if err != nil {
					return err
				}
				l.Operations = ops
			}
			if o.json {
				return printJSON(c.OutOrStdout(), l)
			}
			return printOpList(c.OutOrStdout(), l)
		},
	}
	opFlags(cmd, &o)
	return cmd
}

func newOpShowCommand() *cobra.Command {
	var o opOptions
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one operation with its progress and report",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseOpID(args[0])
			if err != nil {
				return err
			}
			op, err := getOperation(c.Context(), o.dataDir, id)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), op)
			}
			printOp(c.OutOrStdout(), op)
			return nil
		},
	}
	opFlags(cmd, &o)
	return cmd
}

func newOpWatchCommand() *cobra.Command {
	var o opOptions
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow an operation's progress until it ends; exit 0 done, 1 failed, 2 stopped, 4 interrupted",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseOpID(args[0])
			if err != nil {
				return err
			}
			return followOperation(c.Context(), c, o, id)
		},
	}
	opFlags(cmd, &o)
	return cmd
}

func newOpStopCommand() *cobra.Command {
	var o opOptions
	cmd := &cobra.Command{
		Use:   "stop ID",
		Short: "Stop an operation: a queued one at once, a running one at its next safe point",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseOpID(args[0])
			if err != nil {
				return err
			}
			var op operations.Operation
			served, err := callServer(c.Context(), o.dataDir, "op.stop", opIDArgs{ID: id}, &op)
			if !served {
				op, err = getOperation(c.Context(), o.dataDir, id)
				if err == nil {
					err = fmt.Errorf("no server runs on %s, so nothing runs: operation %d is %s", o.dataDir, id, op.State)
				}
			}
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), op)
			}
			if op.State == operations.Running {
				fmt.Fprintf(c.OutOrStdout(), "operation %d stops at its next safe point (follow it: tidemark op watch %d)\n", id, id)
			} else {
				fmt.Fprintf(c.OutOrStdout(), "operation %d %s\n", id, op.State)
			}
			return nil
		},
	}
	opFlags(cmd, &o)
	return cmd
}

func newOpResubmitCommand() *cobra.Command {
	var o opOptions
	cmd := &cobra.Command{
		Use:   "resubmit ID",
		Short: "Queue an ended (interrupted, stopped, failed) operation again with the same parameters",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseOpID(args[0])
			if err != nil {
				return err
			}
			var op operations.Operation
			served, err := callServer(c.Context(), o.dataDir, "op.resubmit", opIDArgs{ID: id}, &op)
			if !served {
				old, err := getOperation(c.Context(), o.dataDir, id)
				if err != nil {
					return err
				}
				if !old.State.Ended() {
					return fmt.Errorf("operation %d is still %s", id, old.State)
				}
				return runInProcess(c.Context(), c, o, old.Kind, old.Params)
			}
			if err != nil {
				return err
			}
			return submitted(c, o, op)
		},
	}
	opFlags(cmd, &o)
	cmd.Flags().BoolVar(&o.sync, "sync", false, "wait for the operation to end, showing its progress")
	return cmd
}

func newOpSubmitCommand() *cobra.Command {
	var o opOptions
	var params string
	cmd := &cobra.Command{
		Use:   "submit KIND [--params JSON]",
		Short: "Submit an operation of any kind (backup.scan, backup.purge, ...) with JSON parameters",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var raw json.RawMessage
			if params != "" {
				if !json.Valid([]byte(params)) {
					return usagef("--params is not valid JSON")
				}
				raw = json.RawMessage(params)
			}
			return submitOperation(c.Context(), c, o, args[0], raw)
		},
	}
	opFlags(cmd, &o)
	cmd.Flags().StringVar(&params, "params", "", "the operation's parameters as a JSON object")
	cmd.Flags().BoolVar(&o.sync, "sync", false, "wait for the operation to end, showing its progress")
	return cmd
}

func newOpLaneCommand(verb string) *cobra.Command {
	var o opOptions
	lane := string(operations.LaneBackup)
	short := "Hold a queue: the running operation goes on, queued ones wait until resume (or a restart)"
	if verb == "resume" {
		short = "Let a held queue run again"
	}
	cmd := &cobra.Command{
		Use:   verb + " [--lane backup|storage]",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			served, err := callServer(c.Context(), o.dataDir, "op."+verb, opLaneArgs{Lane: operations.Lane(lane)}, nil)
			if !served {
				return fmt.Errorf("no server runs on %s: there is no queue to %s", o.dataDir, verb)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "%s queue: %sd\n", lane, verb)
			return nil
		},
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().StringVar(&lane, "lane", lane, "the queue: backup or storage")
	return cmd
}

// localOperations lists the operations of a data directory no server runs
// on, without changing them (a crash's leftovers show as interrupted; the
// next server marks and notifies them).
func localOperations(dataDir string) ([]operations.Operation, error) {
	if _, err := os.Stat(filepath.Join(dataDir, configFile)); err != nil {
		return nil, fmt.Errorf("%s is not a tidemark data directory (run tidemark init or tidemark serve first)", dataDir)
	}
	return operations.ReadDir(filepath.Join(dataDir, operationsDir))
}

// getOperation reads one operation from the server, or from the data
// directory when none runs.
func getOperation(ctx context.Context, dataDir string, id uint64) (operations.Operation, error) {
	var op operations.Operation
	if served, err := callServer(ctx, dataDir, "op.show", opIDArgs{ID: id}, &op); served {
		return op, err
	}
	ops, err := localOperations(dataDir)
	if err != nil {
		return op, err
	}
	for _, o := range ops {
		if o.ID == id {
			return o, nil
		}
	}
	return op, fmt.Errorf("%w: %d", operations.ErrNotFound, id)
}

// followOperation shows operation id's progress until it ends and returns
// its result. Ctrl-C detaches (the operation goes on) and says how to come
// back to it.
func followOperation(ctx context.Context, c *cobra.Command, o opOptions, id uint64) error {
	pp := newProgressPrinter(c.ErrOrStderr(), o.json)
	op, err := watchServer(ctx, o.dataDir, id, pp.update)
	pp.finish()
	var ns noServerError
	switch {
	case errors.As(err, &ns):
		// No server: what the data directory says is final.
		if op, err = getOperation(ctx, o.dataDir, id); err != nil {
			return err
		}
	case errors.Is(err, errServerGone):
		if last, gerr := getOperation(context.Background(), o.dataDir, id); gerr == nil {
			op = last
		}
		if !op.State.Ended() {
			op.State = operations.Interrupted
			op.Error = fmt.Sprintf("the server stopped while the operation ran; resubmit it: tidemark op resubmit %d --data %s", id, o.dataDir)
		}
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(c.ErrOrStderr(), "\ndetached: operation %d goes on in the server.\n  follow it: tidemark op watch %d --data %s\n  stop it:   tidemark op stop %d --data %s\n",
			id, id, o.dataDir, id, o.dataDir)
		return fmt.Errorf("detached from operation %d: %w", id, context.Canceled)
	case err != nil:
		return err
	}
	if err := printOutcome(c.OutOrStdout(), op, o); err != nil {
		return err
	}
	return opResult(op)
}

// submitted prints a newly queued operation, or follows it with --sync.
func submitted(c *cobra.Command, o opOptions, op operations.Operation) error {
	if o.sync {
		return followOperation(c.Context(), c, o, op.ID)
	}
	if o.json {
		return printJSON(c.OutOrStdout(), op)
	}
	w := c.OutOrStdout()
	fmt.Fprintf(w, "operation %d queued (%s)\n", op.ID, op.Kind)
	fmt.Fprintf(w, "  follow it: tidemark op watch %d --data %s\n  stop it:   tidemark op stop %d --data %s\n", op.ID, o.dataDir, op.ID, o.dataDir)
	return nil
}

// submitOperation submits kind to the running server (printing its id, or
// following it with --sync); with no server it runs the same job in this
// process, to its end.
func submitOperation(ctx context.Context, c *cobra.Command, o opOptions, kind string, params json.RawMessage) error {
	var op operations.Operation
	served, err := callServer(ctx, o.dataDir, "op.submit", opSubmitArgs{Kind: kind, Params: params}, &op)
	if !served {
		return runInProcess(ctx, c, o, kind, params)
	}
	if err != nil {
		return err
	}
	return submitted(c, o, op)
}

// runInProcess runs one operation in this process, on the data directory
// opened directly, through the same manager and jobs as a server. Ctrl-C
// interrupts it (exit 4); it can be resubmitted.
func runInProcess(ctx context.Context, c *cobra.Command, o opOptions, kind string, params json.RawMessage) error {
	eng, cfg, err := openEngineForAdmin(o.dataDir)
	if err != nil {
		return err
	}
	defer eng.Close()
	// The backup side is opened when a job first asks: an import or an
	// external restore needs no local repository.
	bk := &inProcessBackup{ctx: ctx, dataDir: o.dataDir, eng: eng, create: kind == kindBackupScan}
	defer bk.close()
	log := newLogger(c.ErrOrStderr(), slog.LevelWarn)
	m, err := newOperations(o.dataDir, &jobDeps{cfg: cfg, eng: eng, scanner: bk.scanner, backup: bk.backup,
		refusal: func(ctx context.Context, repo *repository.Repository) (*repository.Refusal, error) {
			return offlineRefusal(ctx, o.dataDir, repo)
		}}, log)
	if errors.Is(err, operations.ErrLocked) {
		return fmt.Errorf("another tidemark command is running an operation on %s; wait for it (tidemark op list): %w", o.dataDir, err)
	}
	if err != nil {
		return err
	}
	closed := false
	closeM := func() {
		if !closed {
			closed = true
			m.Close()
		}
	}
	defer closeM()
	op, err := m.Submit(operations.Request{Kind: kind, Params: params})
	if err != nil {
		return err
	}
	pp := newProgressPrinter(c.ErrOrStderr(), o.json)
	for !op.State.Ended() {
		var ch <-chan struct{}
		op, ch, err = m.Watch(op.ID)
		if err != nil {
			return err
		}
		pp.update(op)
		if op.State.Ended() {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			closeM() // interrupts the job at its next safe point
			op, _ = m.Get(op.ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pp.finish()
	closeM()
	if err := printOutcome(c.OutOrStdout(), op, o); err != nil {
		return err
	}
	return opResult(op)
}

// inProcessBackup is the backup side of a command that runs an operation
// itself: the repository and catalog, opened on first use, and a one-off
// scanner over them. One operation runs at a time in a command, so it
// needs no lock.
type inProcessBackup struct {
	ctx     context.Context
	dataDir string
	eng     *engine.Engine
	create  bool // make the repository if there is none yet (backup scan)

	env    *backupEnv
	err    error
	opened bool
	sc     *scanner.Scanner
	scErr  error
	scMade bool
}

func (b *inProcessBackup) open() error {
	if !b.opened {
		b.opened = true
		b.env, b.err = openBackupEnvInit(b.ctx, b.dataDir, true, false, b.create)
		if b.err == nil {
			b.env.eng = b.eng // for the scanner; closed by the caller, not by env
		}
	}
	return b.err
}

func (b *inProcessBackup) backup() (*catalog.Catalog, *repository.Repository, error) {
	if err := b.open(); err != nil {
		return nil, nil, err
	}
	return b.env.cat, b.env.repo, nil
}

func (b *inProcessBackup) scanner() (*scanner.Scanner, error) {
	if err := b.open(); err != nil {
		return nil, err
	}
	if !b.scMade {
		b.sc, b.scErr = b.env.scanner()
		b.scMade = true
	}
	return b.sc, b.scErr
}

func (b *inProcessBackup) close() {
	if b.env != nil {
		b.env.eng = nil
		b.env.Close()
	}
}
