package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/engine/backup"
	"github.com/tidemark/tidemark/engine/backup/enginesrc"
)

// errVerifyProblems makes verify exit non-zero when problems remain.
var errVerifyProblems = errors.New("backup verify found problems")

type backupVerifyOptions struct {
	dataDir  string
	accounts []string
	readData bool
	fix      bool
	json     bool
}

func newBackupVerifyCommand() *cobra.Command {
	var o backupVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the backup repository and catalog (coherency check)",
		Long: `Checks every segment, scan and snapshot checksum, that every referenced blob is
present (with --read-data: that it matches its digest), that the catalog equals
one rebuilt from the repository, and reports orphan objects. --fix moves corrupt
and orphan objects to quarantine/ in the repository (never deletes) and copies
missing blobs again from the mail store; stop the server first.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBackupVerify(c.Context(), o, c) },
	}
	dataDirFlag(cmd, &o.dataDir)
	cmd.Flags().StringSliceVar(&o.accounts, "accounts", nil, "check only blobs of these accounts (addresses)")
	cmd.Flags().BoolVar(&o.readData, "read-data", false, "read every blob and check its digest")
	cmd.Flags().BoolVar(&o.fix, "fix", false, "quarantine corrupt and orphan objects, copy missing blobs again")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

func runBackupVerify(ctx context.Context, o backupVerifyOptions, c *cobra.Command) error {
	// A running server holds the catalog; it still says whether it ships.
	var live backup.Status
	if served, err := callServer(ctx, o.dataDir, "backup.status", nil, &live); served && err == nil && live.Refusal != nil {
		rep := backup.VerifyReport{Problems: []backup.Problem{ownerProblem(live.Refusal, live.Resolve)}}
		if o.json {
			_ = printJSON(c.OutOrStdout(), rep)
		} else {
			printOwnerProblem(c, rep.Problems[0])
		}
		return errVerifyProblems
	}
	env, err := openBackupEnv(ctx, o.dataDir, true, o.fix || len(o.accounts) > 0)
	if err != nil {
		return err
	}
	defer env.Close()
	refusal, err := offlineRefusal(ctx, o.dataDir, env.repo)
	if err != nil {
		return err
	}
	opts := backup.VerifyOptions{ReadData: o.readData, Fix: o.fix}
	if env.eng != nil {
		opts.Source = enginesrc.New(env.eng)
		for _, a := range o.accounts {
			id, err := env.cat.FindAccount(ctx, a, nowForCLI())
			if err != nil {
				return fmt.Errorf("account %s: %w", a, err)
			}
			opts.Accounts = append(opts.Accounts, id)
		}
	}
	rep, err := backup.Verify(ctx, env.repo, env.cat, opts)
	if err != nil {
		return err
	}
	if refusal != nil {
		rep.Problems = append(rep.Problems, ownerProblem(refusal, resolveCommands(o.dataDir, refusal)))
	}
	if o.json {
		if err := printJSON(c.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		out := c.OutOrStdout()
		fmt.Fprintf(out, "checked %d segments, %d scans, %d snapshots, %d blobs\n", rep.Segments, rep.Scans, rep.Snapshots, rep.Blobs)
		for _, p := range rep.Problems {
			fixed := ""
			if p.Fixed {
				fixed = " (fixed)"
			}
			fmt.Fprintf(out, "%s %s: %s%s\n", p.Kind, p.Object, p.Detail, fixed)
		}
		if len(rep.Problems) == 0 {
			fmt.Fprintln(out, "no problems found")
		}
	}
	if !rep.OK() {
		return errVerifyProblems
	}
	return nil
}

// ownerProblem reports that this server does not own its repository: the
// backup of its mail is not being kept, whatever the repository holds.
func ownerProblem(r *backup.Refusal, resolve []string) backup.Problem {
	return backup.Problem{Kind: "not-owner", Object: "owner.json",
		Detail: "this server does not ship to this repository: " + r.Reason + ". To resolve: " + joinResolve(resolve)}
}

func printOwnerProblem(c *cobra.Command, p backup.Problem) {
	fmt.Fprintf(c.OutOrStdout(), "%s %s: %s\n", p.Kind, p.Object, p.Detail)
}
