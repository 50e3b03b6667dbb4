package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/tidemark/tidemark/engine/event"
)

func init() { commands = append(commands, newCOSCommand) }

func newCOSCommand() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{Use: "cos", Short: "Manage classes of service (default quota, backup on or off, backup view for users)"}
	cmd.PersistentFlags().StringVar(&dataDir, "data", "./tidemark-data", "data directory")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")

	var quota string
	var backup, view bool
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a class of service", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			q, err := parseSize(quota)
			if err != nil {
				return usagef("--quota: %v", err)
			}
			return callAdmin(c.Context(), dataDir, "cos.create", event.COS{Name: args[0], DefaultQuota: q, Backup: backup, BackupViewOff: !view}, nil)
		},
	}
	create.Flags().StringVar(&quota, "quota", "0", "default quota for accounts (e.g. 2G, 500M; 0 = unlimited)")
	create.Flags().BoolVar(&backup, "backup", true, "back up accounts of this class")
	create.Flags().BoolVar(&view, "backup-view", true, "let users of this class browse their backup over IMAP (Backup/ folders, USER+at=TIME logins)")
	cmd.AddCommand(create)

	modify := &cobra.Command{
		Use: "modify NAME", Short: "Change a class of service", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var cur event.COS
			if err := callAdmin(c.Context(), dataDir, "cos.show", nameArgs{Name: args[0]}, &cur); err != nil {
				return err
			}
			if c.Flags().Changed("quota") {
				q, err := parseSize(quota)
				if err != nil {
					return usagef("--quota: %v", err)
				}
				cur.DefaultQuota = q
			}
			if c.Flags().Changed("backup") {
				cur.Backup = backup
			}
			if c.Flags().Changed("backup-view") {
				cur.BackupViewOff = !view
			}
			return callAdmin(c.Context(), dataDir, "cos.modify", cur, nil)
		},
	}
	modify.Flags().StringVar(&quota, "quota", "0", "default quota (0 = unlimited)")
	modify.Flags().BoolVar(&backup, "backup", true, "back up accounts of this class")
	modify.Flags().BoolVar(&view, "backup-view", true, "let users of this class browse their backup over IMAP")
	cmd.AddCommand(modify)

	cmd.AddCommand(&cobra.Command{
		Use: "delete NAME", Short: "Delete a class of service no account uses", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return callAdmin(c.Context(), dataDir, "cos.delete", nameArgs{Name: args[0]}, nil)
		},
	})
	show := func(c *cobra.Command, list []event.COS) error {
		if asJSON {
			return printJSON(c.OutOrStdout(), list)
		}
		rows := make([][]string, len(list))
		for i, x := range list {
			rows[i] = []string{x.Name, formatQuota(x.DefaultQuota), strconv.FormatBool(x.Backup), strconv.FormatBool(!x.BackupViewOff)}
		}
		return table(c.OutOrStdout(), []string{"COS", "DEFAULT QUOTA", "BACKUP", "BACKUP VIEW"}, rows)
	}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List classes of service", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var list []event.COS
			if err := callAdmin(c.Context(), dataDir, "cos.list", nil, &list); err != nil {
				return err
			}
			return show(c, list)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show NAME", Short: "Show one class of service", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var x event.COS
			if err := callAdmin(c.Context(), dataDir, "cos.show", nameArgs{Name: args[0]}, &x); err != nil {
				return err
			}
			return show(c, []event.COS{x})
		},
	})
	return cmd
}

// parseSize reads a byte count with an optional K, M, G or T suffix (powers
// of 1024).
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	case 't', 'T':
		mult = 1 << 40
	}
	num := s
	if mult > 1 {
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (examples: 0, 1048576, 500M, 2G)", s)
	}
	return n * mult, nil
}
