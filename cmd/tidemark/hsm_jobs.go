package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm/policy"
	"github.com/tidemark/tidemark/operations"
)

// The kinds of HSM operation, run in the storage queue.
const (
	kindHSMMove       = "hsm.move"
	kindHSMMoveVolume = "hsm.move-volume"
	kindHSMCheck      = "hsm.check"
)

type hsmMoveParams struct {
	DryRun   bool     `json:"dry_run,omitempty"`
	To       string   `json:"to,omitempty"`       // default: the current secondary
	Accounts []string `json:"accounts,omitempty"` // default: every account
}

type hsmMoveVolumeParams struct {
	From   string `json:"from"`
	To     string `json:"to"`
	DryRun bool   `json:"dry_run,omitempty"`
}

type hsmCheckParams struct {
	Accounts []string `json:"accounts,omitempty"`
	Volumes  []string `json:"volumes,omitempty"`
	Fix      bool     `json:"fix,omitempty"`
}

func accountIDs(ctx context.Context, e *engine.Engine, addrs []string) ([]uint64, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	ids := make([]uint64, 0, len(addrs))
	for _, a := range addrs {
		ac, err := lookup(ctx, e, a)
		if err != nil {
			return nil, err
		}
		ids = append(ids, ac.ID)
	}
	return ids, nil
}

// policyMatcher turns the policy in force into the engine's item matcher
// at time now.
func policyMatcher(ctx context.Context, e *engine.Engine, now time.Time) (func(engine.PolicyItem) bool, []string, error) {
	v, err := currentPolicy(ctx, e)
	if err != nil {
		return nil, nil, err
	}
	p, err := policy.Parse(v.Lines)
	if err != nil {
		return nil, nil, fmt.Errorf("the recorded HSM policy: %w", err)
	}
	return func(it engine.PolicyItem) bool {
		return p.Match(policy.Item{Type: it.Type.String(), Folder: it.Folder, Date: it.Date, Size: it.Size,
			Flags: it.Flags, HasAttachment: it.HasAttachment}, now)
	}, v.Lines, nil
}

// hsmMoveReport is the report of hsm.move: the engine's and the policy it
// applied.
type hsmMoveReport struct {
	engine.MoveReport
	Policy []string `json:"policy,omitempty"`
}

func registerHSMJobs(m *operations.Manager, d *jobDeps) {
	m.Register(kindHSMMove, operations.LaneStorage, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a hsmMoveParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		ids, err := accountIDs(ctx, d.eng, a.Accounts)
		if err != nil {
			return nil, err
		}
		match, lines, err := policyMatcher(ctx, d.eng, time.Now())
		if err != nil {
			return nil, err
		}
		p.Step("applying the policy")
		rep, err := d.eng.MoveByPolicy(ctx, engine.MoveOptions{To: a.To, Match: match, Accounts: ids, DryRun: a.DryRun,
			Progress: func(n, b int64) { p.Add(n, b) }})
		return hsmMoveReport{MoveReport: rep, Policy: lines}, err
	})
	m.Register(kindHSMMoveVolume, operations.LaneStorage, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a hsmMoveVolumeParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		p.Step(a.From + " to " + a.To)
		return d.eng.MoveVolume(ctx, a.From, engine.MoveOptions{To: a.To, DryRun: a.DryRun,
			Total:    func(n, b int64) { p.SetTotal(n, b) },
			Progress: func(n, b int64) { p.Add(n, b) }})
	})
	m.Register(kindHSMCheck, operations.LaneStorage, func(ctx context.Context, raw json.RawMessage, p *operations.Tracker) (any, error) {
		var a hsmCheckParams
		if err := jobParams(raw, &a); err != nil {
			return nil, err
		}
		ids, err := accountIDs(ctx, d.eng, a.Accounts)
		if err != nil {
			return nil, err
		}
		// With --fix the backup is the last source of a blob no volume
		// holds whole.
		var src engine.BlobSource
		out := hsmCheckReport{Backup: "off"}
		if a.Fix && d.backup != nil {
			if _, repo, err := d.backupSide(); err != nil {
				out.Backup = "unavailable: " + err.Error()
			} else if repo != nil {
				src, out.Backup = repairBackup{repo}, "on"
			}
		}
		rep, err := d.eng.CheckBlobs(ctx, engine.CheckOptions{Accounts: ids, Volumes: a.Volumes, Fix: a.Fix, Now: time.Now,
			Backup: src, Progress: func(n, b int64) { p.Add(n, b) }})
		if err == nil && rep.Unfixed() > 0 {
			err = fmt.Errorf("%d problem(s) found and not fixed (missing %d, corrupt %d, orphans %d, fixed %d, unrecoverable %d)",
				rep.Unfixed(), rep.Missing, rep.Corrupt, rep.Orphans, rep.Fixed, rep.Unrecoverable)
		}
		out.CheckReport = rep
		return out, err
	})
}

// hsmReportText renders the HSM reports for people.
func hsmReportText(op operations.Operation) (string, bool) {
	switch op.Kind {
	case kindHSMMove, kindHSMMoveVolume:
		var rep hsmMoveReport
		if json.Unmarshal(op.Report, &rep) != nil {
			return "", false
		}
		var b strings.Builder
		verb := "moved"
		if rep.DryRun {
			verb = "would move"
		}
		fmt.Fprintf(&b, "%s %d blob(s), %s, to %s (%s written); %d item(s) selected, %d already there, %d skipped\n",
			verb, rep.Blobs, formatBytes(rep.Bytes), rep.To, formatBytes(rep.Written), rep.Items, rep.Already, rep.Skipped)
		names := make([]string, 0, len(rep.From))
		for n := range rep.From {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "  from %s: %d blob(s), %s\n", n, rep.From[n].Blobs, formatBytes(rep.From[n].Bytes))
		}
		for _, f := range rep.Failed {
			fmt.Fprintf(&b, "  not moved: %s\n", f)
		}
		return b.String(), true
	case kindHSMCheck:
		var rep hsmCheckReport
		if json.Unmarshal(op.Report, &rep) != nil {
			return "", false
		}
		var fix hsmCheckParams
		_ = json.Unmarshal(op.Params, &fix)
		return hsmCheckText(rep, fix.Fix), true
	}
	return "", false
}

// hsmCheckReport is the report of hsm.check: the engine's, and whether
// the backup was there to copy blobs back from.
type hsmCheckReport struct {
	engine.CheckReport
	Backup string `json:"backup,omitempty"` // on, off, or unavailable: why
}

func hsmCheckText(rep hsmCheckReport, fixing bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d blob(s), %s; listed %d object(s): %d missing, %d corrupt, %d orphan(s), %d fixed, %d unrecoverable\n",
		rep.Blobs, formatBytes(rep.Bytes), rep.Objects, rep.Missing, rep.Corrupt, rep.Orphans, rep.Fixed, rep.Unrecoverable)
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "  %s %s on %s", p.Kind, p.Digest, p.Volume)
		if p.Detail != "" {
			fmt.Fprintf(&b, ": %s", p.Detail)
		}
		switch {
		case p.Fixed:
			fmt.Fprintf(&b, " (fixed: %s)", p.Fix)
		case p.GoodCopy != "":
			fmt.Fprintf(&b, " (a whole copy is on %s: --fix records it)", p.GoodCopy)
		case p.Unrecoverable:
			fmt.Fprintf(&b, " (no whole copy on any volume")
			if fixing && rep.Backup == "on" {
				b.WriteString(" nor in the backup")
			}
			b.WriteString(")")
		}
		b.WriteString("\n")
		if len(p.Items) > 0 {
			fmt.Fprintf(&b, "    referenced by: %s\n", strings.Join(p.Items, ", "))
		}
	}
	if rep.Unrecoverable > 0 {
		switch {
		case fixing && rep.Backup == "on":
			b.WriteString("The messages listed cannot be read and the backup does not hold their blobs; " +
				"`tidemark backup item ADDRESS ID --all-versions` shows what it holds of them.\n")
		case fixing:
			fmt.Fprintf(&b, "The backup was not read (%s): with it, `tidemark hsm check --fix` copies such a blob back from the backup when the backup holds it.\n", rep.Backup)
		default:
			b.WriteString("`tidemark hsm check --fix` copies such a blob back from the backup when the backup holds it " +
				"(restoring the item would not: the restored item shares the damaged blob).\n")
		}
	}
	return b.String()
}

func hsmOpFlags(cmd *cobra.Command, o *opOptions) {
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&o.sync, "sync", false, "with a server running: wait for the operation to end, showing its progress")
	o.reportOnly = true
}

func newHSMMoveCommand() *cobra.Command {
	var o opOptions
	var a hsmMoveParams
	cmd := &cobra.Command{
		Use:   "move [--dry-run] [--sync]",
		Short: "Move the blobs of the items the policy selects to the current secondary volume",
		Long: `Applies the HSM policy (tidemark hsm policy show) as an operation of the storage
queue: each selected blob is copied to the current secondary volume (or --to)
and verified there (read back; on S3 checked by the store with Content-MD5),
a batch of copies made durable together, recorded as moved, and each old copy
deleted once its record is checkpointed and shipped to the backup. It can be
stopped and run again; a blob is always whole on one volume at least. With a
server running the command prints the operation's id (--sync waits); without
one it runs here.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			raw, err := json.Marshal(a)
			if err != nil {
				return err
			}
			return submitOperation(c.Context(), c, o, kindHSMMove, raw)
		},
	}
	hsmOpFlags(cmd, &o)
	cmd.Flags().BoolVar(&a.DryRun, "dry-run", false, "report what would move, move nothing")
	cmd.Flags().StringVar(&a.To, "to", "", "destination volume (default: the current secondary)")
	cmd.Flags().StringSliceVar(&a.Accounts, "account", nil, "only these accounts (repeat or comma-separate)")
	return cmd
}

func newHSMMoveVolumeCommand() *cobra.Command {
	var o opOptions
	var a hsmMoveVolumeParams
	cmd := &cobra.Command{
		Use:   "move-volume SRC DST [--dry-run] [--sync]",
		Short: "Move every blob of volume SRC to volume DST (e.g. to retire a disk)",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			a.From, a.To = args[0], args[1]
			raw, err := json.Marshal(a)
			if err != nil {
				return err
			}
			return submitOperation(c.Context(), c, o, kindHSMMoveVolume, raw)
		},
	}
	hsmOpFlags(cmd, &o)
	cmd.Flags().BoolVar(&a.DryRun, "dry-run", false, "report what would move, move nothing")
	return cmd
}

func newHSMCheckCommand() *cobra.Command {
	var o opOptions
	var a hsmCheckParams
	cmd := &cobra.Command{
		Use:   "check [--accounts A,B] [--volumes V,W] [--fix] [--sync]",
		Short: "Check that every blob is whole on the volume the state says, and find orphans",
		Long: `Reads every referenced blob (of --accounts, on --volumes) from the volume the
state places it on and checks its digest and size; lists the volumes for
blobs nothing references (orphans, older than an hour: a delivery writes its
blob just before its record). A missing or corrupt blob is looked for on the
other volumes. --fix repairs what it can without losing anything: a whole
copy (right digest and size) on another volume becomes the blob's location
(recorded in the redo log; the bad copy is then deleted as a moved blob's
old copy is); a blob no volume holds whole is copied back from the backup
when the backup holds it; an orphan is deleted, unless it is the one whole
copy of a blob whose referenced copy is bad. A blob with no whole copy
anywhere is reported as unrecoverable with the items that reference it.
Nothing referenced is ever deleted. Exits non-zero when a problem is left.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			raw, err := json.Marshal(a)
			if err != nil {
				return err
			}
			return submitOperation(c.Context(), c, o, kindHSMCheck, raw)
		},
	}
	hsmOpFlags(cmd, &o)
	cmd.Flags().StringSliceVar(&a.Accounts, "accounts", nil, "check only the blobs of these accounts")
	cmd.Flags().StringSliceVar(&a.Volumes, "volumes", nil, "check only these volumes")
	cmd.Flags().BoolVar(&a.Fix, "fix", false, "repair: record whole copies found on other volumes, copy blobs back from the backup, delete orphans")
	return cmd
}
