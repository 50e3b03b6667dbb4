package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/operations"
)

func init() { commands = append(commands, newScheduleCommand) }

func newScheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "The recurring operations ([schedule] in tidemark.toml)",
	}
	var o opOptions
	show := &cobra.Command{
		Use:   "show",
		Short: "Show each scheduled operation, when it runs next and the last one it queued",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var plan []operations.Planned
			served, err := callServer(c.Context(), o.dataDir, "schedule.show", nil, &plan)
			if served && err != nil {
				return err
			}
			if !served {
				cfg, _, err := loadConfig(o.dataDir)
				if err != nil {
					return err
				}
				entries, err := cfg.Schedule.entries()
				if err != nil {
					return err
				}
				plan = operations.PlanAt(entries, time.Now(), nil)
			}
			if o.json {
				return printJSON(c.OutOrStdout(), plan)
			}
			var rows [][]string
			for _, p := range plan {
				next, last := "-", "-"
				if !p.Next.IsZero() {
					next = p.Next.Local().Format("2006-01-02 15:04 MST")
				}
				if p.Last != 0 {
					last = fmt.Sprint(p.Last)
				}
				rows = append(rows, []string{p.Name, p.Kind, p.When, next, last})
			}
			if err := table(c.OutOrStdout(), []string{"NAME", "KIND", "WHEN", "NEXT", "LAST OPERATION"}, rows); err != nil {
				return err
			}
			if !served {
				fmt.Fprintln(c.OutOrStdout(), "(no server runs: nothing is scheduled until tidemark serve starts)")
			}
			return nil
		},
	}
	opFlags(show, &o)
	cmd.AddCommand(show)
	return cmd
}
