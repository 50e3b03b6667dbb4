package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm/policy"
)

func init() { commands = append(commands, newHSMCommand) }

// policyView is the policy in force: the recorded lines, or the default.
type policyView struct {
	Lines   []string `json:"lines"`
	Default bool     `json:"default"` // no policy recorded: the default applies
}

func currentPolicy(ctx context.Context, e *engine.Engine) (policyView, error) {
	lines, ok, err := e.Policy(ctx)
	if err != nil {
		return policyView{}, err
	}
	if !ok {
		return policyView{Lines: policy.Default, Default: true}, nil
	}
	return policyView{Lines: lines}, nil
}

// checkPolicy refuses a policy that does not parse, naming the line and
// column.
func checkPolicy(lines []string) error {
	_, err := policy.Parse(lines)
	return err
}

func newHSMCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hsm",
		Short: "Hierarchical storage: the policy, moves of blobs to the secondary volume, checks",
	}
	cmd.AddCommand(newHSMPolicyCommand())
	cmd.AddCommand(newHSMMoveCommand(), newHSMMoveVolumeCommand(), newHSMCheckCommand())
	return cmd
}

func newHSMPolicyCommand() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show and change the HSM policy (lines types:query; see README, HSM)",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data", "./tidemark-data", "data directory")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	show := func(c *cobra.Command) error {
		var v policyView
		if err := callAdmin(c.Context(), dataDir, "hsm.policy.show", nil, &v); err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.OutOrStdout(), v)
		}
		for i, l := range v.Lines {
			fmt.Fprintf(c.OutOrStdout(), "%d  %s\n", i+1, l)
		}
		if v.Default {
			fmt.Fprintln(c.OutOrStdout(), "(the default policy: none is set)")
		}
		return nil
	}
	set := func(c *cobra.Command, lines []string) error {
		if err := checkPolicy(lines); err != nil {
			return usagef("%v", err)
		}
		if err := callAdmin(c.Context(), dataDir, "hsm.policy.set", policyView{Lines: lines}, nil); err != nil {
			return err
		}
		return show(c)
	}
	cmd.AddCommand(&cobra.Command{
		Use: "show", Short: "Show the policy in force", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return show(c) },
	})
	cmd.AddCommand(&cobra.Command{
		Use: "set LINE...", Short: "Replace the policy with these lines (each one argument)", Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return set(c, args) },
	})
	cmd.AddCommand(&cobra.Command{
		Use: "add LINE", Short: "Add a line at the end of the policy in force", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var v policyView
			if err := callAdmin(c.Context(), dataDir, "hsm.policy.show", nil, &v); err != nil {
				return err
			}
			return set(c, append(v.Lines, args[0]))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "remove N|LINE", Short: "Remove a line, by its number in policy show or its text", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var v policyView
			if err := callAdmin(c.Context(), dataDir, "hsm.policy.show", nil, &v); err != nil {
				return err
			}
			idx := -1
			if n, err := strconv.Atoi(args[0]); err == nil {
				if n < 1 || n > len(v.Lines) {
					return usagef("the policy has %d line(s); there is no line %d", len(v.Lines), n)
				}
				idx = n - 1
			} else {
				for i, l := range v.Lines {
					if l == args[0] {
						idx = i
					}
				}
				if idx < 0 {
					return usagef("the policy has no line %q (see tidemark hsm policy show)", args[0])
				}
			}
			rest := append(append([]string(nil), v.Lines[:idx]...), v.Lines[idx+1:]...)
			if len(rest) == 0 {
				return usagef("that is the policy's last line: set another policy instead (tidemark hsm policy set)")
			}
			return set(c, rest)
		},
	})
	return cmd
}
