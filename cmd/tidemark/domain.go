package main

import (
	"sort"
	"strings"

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
	show := func(c *cobra.Command, ds []engine.Domain) error {
		if asJSON {
			return printJSON(c.OutOrStdout(), ds)
		}
		rows := make([][]string, len(ds))
		for i, d := range ds {
			rows[i] = []string{d.Name, formatAttrs(d.Attrs)}
		}
		return table(c.OutOrStdout(), []string{"DOMAIN", "ATTRIBUTES"}, rows)
	}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List domains", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var ds []engine.Domain
			if err := callAdmin(c.Context(), dataDir, "domain.list", nil, &ds); err != nil {
				return err
			}
			return show(c, ds)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show NAME", Short: "Show a domain", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var d engine.Domain
			if err := callAdmin(c.Context(), dataDir, "domain.show", nameArgs{Name: args[0]}, &d); err != nil {
				return err
			}
			return show(c, []engine.Domain{d})
		},
	})
	var attrs []string
	modify := &cobra.Command{
		Use: "modify NAME --attr KEY=VALUE...", Short: "Set domain attributes (an empty value removes the key)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var d engine.Domain
			if err := callAdmin(c.Context(), dataDir, "domain.show", nameArgs{Name: args[0]}, &d); err != nil {
				return err
			}
			if d.Attrs == nil {
				d.Attrs = map[string]string{}
			}
			for _, kv := range attrs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usagef("--attr %q: want KEY=VALUE", kv)
				}
				if v == "" {
					delete(d.Attrs, k)
				} else {
					d.Attrs[k] = v
				}
			}
			return callAdmin(c.Context(), dataDir, "domain.modify", d, nil)
		},
	}
	modify.Flags().StringArrayVar(&attrs, "attr", nil, "attribute KEY=VALUE (repeatable)")
	cmd.AddCommand(modify)
	return cmd
}

// formatAttrs renders attributes as sorted key=value pairs.
func formatAttrs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, " ")
}
