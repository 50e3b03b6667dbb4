package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// setupRoot adds what every command shares once the tree is built: the
// logging flags, --version, and the refusal of unknown subcommands.
func setupRoot(root *cobra.Command) {
	addLogFlags(root)
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return checkLogFlags() }
	root.Version = currentBuild().Version
	root.SetVersionTemplate(versionTemplate())
	refuseUnknownSubcommands(root)
}

// versionTemplate prints what `tidemark version` prints for --version.
func versionTemplate() string {
	var b strings.Builder
	currentBuild().write(&b)
	return strings.ReplaceAll(strings.ReplaceAll(b.String(), "{{", "{{`{{`}}"), "}}", "{{`}}`}}")
}

// refuseUnknownSubcommands makes every command that only groups others
// (tidemark, tidemark backup, ...) fail with a usage error (exit 64) on
// an argument that names no subcommand, instead of printing its help and
// succeeding; without arguments it still prints its help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil {
		return
	}
	c.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usagef("%s (see %s --help)", msg, c.CommandPath())
	}
	c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
}
