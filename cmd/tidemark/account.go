package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

func init() { commands = append(commands, newAccountCommand) }

func newAccountCommand() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{Use: "account", Short: "Create, change and delete accounts and their aliases"}
	cmd.PersistentFlags().StringVar(&dataDir, "data", "./tidemark-data", "data directory")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")

	printAccounts := func(c *cobra.Command, list []engine.Account) error {
		if asJSON {
			return printJSON(c.OutOrStdout(), list)
		}
		rows := make([][]string, len(list))
		for i, a := range list {
			rows[i] = []string{a.Address, string(a.Status), a.COS,
				formatBytes(a.QuotaUsed) + " / " + formatQuota(a.Quota),
				strings.Join(a.Aliases, ","), a.Created.Local().Format(time.DateTime)}
		}
		return table(c.OutOrStdout(), []string{"ADDRESS", "STATUS", "COS", "USED / QUOTA", "ALIASES", "CREATED"}, rows)
	}

	var password, cos, quota, status string
	var passwordStdin, hideInGAL bool
	create := &cobra.Command{
		Use: "create ADDRESS", Short: "Create an account (its domain must exist)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pw, err := readPassword(password, passwordStdin)
			if err != nil {
				return err
			}
			a := accountCreateArgs{Address: args[0], Password: pw, COS: cos,
				Status: event.AccountStatus(status), HideInGAL: hideInGAL}
			if quota != "" {
				q, err := parseSize(quota)
				if err != nil {
					return usagef("--quota: %v", err)
				}
				a.Quota = &q
			}
			var acct engine.Account
			if err := callAdmin(c.Context(), dataDir, "account.create", a, &acct); err != nil {
				return err
			}
			if pw == "" {
				fmt.Fprintf(c.ErrOrStderr(), "note: %s has no password: it receives mail but cannot log in until one is set with\n"+
					"  tidemark account passwd %s --password-stdin\n", acct.Address, acct.Address)
			}
			return printAccounts(c, []engine.Account{acct})
		},
	}
	create.Flags().StringVar(&password, "password", "", "password (prefer --password-stdin: arguments are visible to other users)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	create.Flags().StringVar(&cos, "cos", "", "class of service (default: the server's default class)")
	create.Flags().StringVar(&quota, "quota", "", "quota, e.g. 2G (default: the class of service's)")
	create.Flags().StringVar(&status, "status", "active", "active, locked, maintenance or closed")
	create.Flags().BoolVar(&hideInGAL, "hide-in-gal", false, "hide from the global address list")
	cmd.AddCommand(create)

	var domain string
	list := &cobra.Command{
		Use: "list", Short: "List accounts", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var l []engine.Account
			if err := callAdmin(c.Context(), dataDir, "account.list", map[string]string{"domain": domain}, &l); err != nil {
				return err
			}
			return printAccounts(c, l)
		},
	}
	list.Flags().StringVar(&domain, "domain", "", "only accounts of this domain")
	cmd.AddCommand(list)

	cmd.AddCommand(&cobra.Command{
		Use: "show ADDRESS", Short: "Show an account (by address or alias)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var a engine.Account
			if err := callAdmin(c.Context(), dataDir, "account.show", accountArgs{Address: args[0]}, &a); err != nil {
				return err
			}
			return printAccounts(c, []engine.Account{a})
		},
	})

	var mStatus, mCOS, mQuota string
	var mHide, mAdmin bool
	modify := &cobra.Command{
		Use: "modify ADDRESS", Short: "Change status, quota, class of service", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var ch engine.AccountChange
			if c.Flags().Changed("status") {
				s := event.AccountStatus(mStatus)
				if !s.Valid() {
					return usagef("--status must be active, locked, maintenance or closed")
				}
				ch.Status = &s
			}
			if c.Flags().Changed("cos") {
				ch.COS = &mCOS
			}
			if c.Flags().Changed("quota") {
				q, err := parseSize(mQuota)
				if err != nil {
					return usagef("--quota: %v", err)
				}
				ch.Quota = &q
			}
			if c.Flags().Changed("hide-in-gal") {
				ch.HideInGAL = &mHide
			}
			if c.Flags().Changed("admin") {
				// An empty value removes the attribute.
				v := ""
				if mAdmin {
					v = "true"
				}
				ch.Attrs = map[string]string{adminAttr: v}
			}
			var a engine.Account
			if err := callAdmin(c.Context(), dataDir, "account.modify", accountModifyArgs{Address: args[0], Change: ch}, &a); err != nil {
				return err
			}
			return printAccounts(c, []engine.Account{a})
		},
	}
	modify.Flags().StringVar(&mStatus, "status", "", "active, locked, maintenance or closed")
	modify.Flags().StringVar(&mCOS, "cos", "", "class of service")
	modify.Flags().StringVar(&mQuota, "quota", "", "quota, e.g. 2G (0 = unlimited)")
	modify.Flags().BoolVar(&mHide, "hide-in-gal", false, "hide from the global address list")
	modify.Flags().BoolVar(&mAdmin, "admin", false, "allow (--admin) or forbid (--admin=false) logging in to the web dashboard")
	cmd.AddCommand(modify)

	var yes bool
	del := &cobra.Command{
		Use: "delete ADDRESS", Short: "Delete an account and its mail (the backup keeps it)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !yes {
				return usagef("deleting %s removes its mail from the server; add --yes to confirm", args[0])
			}
			return callAdmin(c.Context(), dataDir, "account.delete", accountArgs{Address: args[0]}, nil)
		},
	}
	del.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	cmd.AddCommand(del)

	cmd.AddCommand(&cobra.Command{
		Use: "rename ADDRESS NEW-ADDRESS", Short: "Change an account's primary address", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return callAdmin(c.Context(), dataDir, "account.rename", accountValueArgs{Address: args[0], Value: args[1]}, nil)
		},
	})

	var pwFlag string
	var pwStdin bool
	passwd := &cobra.Command{
		Use: "passwd ADDRESS", Short: "Set an account's password", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pw, err := readPassword(pwFlag, pwStdin)
			if err != nil {
				return err
			}
			if pw == "" {
				return usagef("give the new password with --password-stdin or --password")
			}
			return callAdmin(c.Context(), dataDir, "account.passwd", accountValueArgs{Address: args[0], Value: pw}, nil)
		},
	}
	passwd.Flags().StringVar(&pwFlag, "password", "", "new password")
	passwd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the new password from standard input")
	cmd.AddCommand(passwd)

	alias := &cobra.Command{Use: "alias", Short: "Add or remove an account's aliases"}
	alias.AddCommand(&cobra.Command{
		Use: "add ADDRESS ALIAS", Short: "Add an alias", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return callAdmin(c.Context(), dataDir, "alias.add", accountValueArgs{Address: args[0], Value: args[1]}, nil)
		},
	})
	alias.AddCommand(&cobra.Command{
		Use: "remove ADDRESS ALIAS", Short: "Remove an alias", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return callAdmin(c.Context(), dataDir, "alias.remove", accountValueArgs{Address: args[0], Value: args[1]}, nil)
		},
	})
	cmd.AddCommand(alias)
	return cmd
}

// readPassword returns the password from the flag or, with fromStdin, the
// first line of standard input.
func readPassword(flag string, fromStdin bool) (string, error) {
	if !fromStdin {
		return flag, nil
	}
	if flag != "" {
		return "", usagef("give --password or --password-stdin, not both")
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
