package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() { commands = append(commands, newManCommand) }

func newManCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write the manual pages (section 1, one per command) into DIR",
		Long: `man writes tidemark.1, tidemark-serve.1, tidemark-backup-scan.1 and so on into
DIR, generated from the commands' own help. Install them with, for example:

  tidemark man /usr/local/share/man/man1 && mandb`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			root := c.Root()
			root.DisableAutoGenTag = true // pages do not change with the day they were made
			hdr := &doc.GenManHeader{Title: "TIDEMARK", Section: "1", Source: "tidemark " + currentBuild().Version,
				Manual: "tidemark manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			fmt.Fprintf(c.OutOrStdout(), "manual pages written to %s\n", args[0])
			return nil
		},
	}
}
