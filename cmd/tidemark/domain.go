package main

import (
	"github.com/spf13/cobra"
	"github.com/tidemark/tidemark/engine"
)

func init() { commands = append(commands, newDomainCommand) }

func newDomainCommand() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{Use: "domain", Short: "Create, list and delete mail domains"}
	cmd.PersistentFlags().StringVar(&dataDir, "data", "./tidemark-data", "data directory")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")

	cmd.AddCommand(&cobra.Command{
		Use: "create NAME", Short: "Create a domain", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return callAdmin(c.Context(), dataDir, "domain.create", nameArgs{Name: args[0]}, nil)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "delete NAME", Short: "Delete a domain that has no accounts", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return callAdmin(c.Context(), dataDir, "domain.delete", nameArgs{Name: args[0]}, nil)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List domains", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var ds []engine.Domain
			if err := callAdmin(c.Context(), dataDir, "domain.list", nil, &ds); err != nil {
				return err
			}
			if asJSON {
				return printJSON(c.OutOrStdout(), ds)
			}
			rows := make([][]string, len(ds))
			for i, d := range ds {
				rows[i] = []string{d.Name}
			}
			return table(c.OutOrStdout(), []string{"DOMAIN"}, rows)
		},
	})
	return cmd
}
