package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/hsm/cryptvol"
)

// newBackupKeyCommand is `tidemark backup key list|add|remove`: the
// passwords (key objects) that open an encrypted repository.
func newBackupKeyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "List, add and remove the passwords that open an encrypted backup repository",
		Long: `An encrypted repository has one random master key, stored once per password
in keys/<id> objects, each sealed under a key derived from its password with
Argon2id. Any one password opens the repository. The current password comes
from [backup] password_file, ` + passwordEnv + ` or a prompt on a terminal.

To change the password: write the new one to a file (mode 0600), run
"backup key add --new-password-file FILE", point [backup] password_file at
FILE (restart a running server), then "backup key remove ID" of the old key.
The last key cannot be removed.`,
	}
	cmd.AddCommand(newBackupKeyListCommand(), newBackupKeyAddCommand(), newBackupKeyRemoveCommand())
	return cmd
}

func newBackupKeyListCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the repository's keys",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			env, err := openBackupEnv(c.Context(), dataDir, false, false)
			if err != nil {
				return err
			}
			defer env.Close()
			keys, err := env.repo.Keys(c.Context())
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(keys))
			for _, k := range keys {
				cur := ""
				if k.ID == env.repo.KeyID() {
					cur = "*"
				}
				rows = append(rows, []string{cur, k.ID, k.Created.Local().Format(time.DateTime), k.Host,
					fmt.Sprintf("argon2id t=%d m=%dMiB p=%d", k.KDF.Time, k.KDF.MemoryKiB>>10, k.KDF.Threads)})
			}
			return table(c.OutOrStdout(), []string{"", "ID", "CREATED", "HOST", "KDF"}, rows)
		},
	}
	dataDirFlag(cmd, &dataDir)
	return cmd
}

func newBackupKeyAddCommand() *cobra.Command {
	var dataDir, newFile string
	cmd := &cobra.Command{
		Use:   "add [--new-password-file FILE]",
		Short: "Add a password that opens the repository (the new one from a file, or asked twice on a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			pw, err := newPassword(newFile)
			if err != nil {
				return err
			}
			env, err := openBackupEnv(c.Context(), dataDir, false, false)
			if err != nil {
				return err
			}
			defer env.Close()
			host, _ := os.Hostname()
			id, err := env.repo.AddKey(c.Context(), pw, cryptvol.KDFParams{}, time.Now(), host)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "added key %s\n", id)
			return nil
		},
	}
	dataDirFlag(cmd, &dataDir)
	cmd.Flags().StringVar(&newFile, "new-password-file", "", "file holding the new password (default: ask on the terminal)")
	return cmd
}

// newPassword reads a new password from file, or asks twice.
func newPassword(file string) ([]byte, error) {
	if file != "" {
		return readPasswordFile(file)
	}
	if !isTerminal(os.Stdin) {
		return nil, usagef("--new-password-file is needed when standard input is not a terminal")
	}
	a, err := promptPassword("new password: ")
	if err != nil {
		return nil, err
	}
	b, err := promptPassword("new password again: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(a, b) {
		return nil, errors.New("the two passwords differ")
	}
	return a, nil
}

func newBackupKeyRemoveCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a key: its password no longer opens the repository (the last key stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			env, err := openBackupEnv(c.Context(), dataDir, false, false)
			if err != nil {
				return err
			}
			defer env.Close()
			if err := env.repo.RemoveKey(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "removed key %s\n", args[0])
			if args[0] == env.repo.KeyID() {
				fmt.Fprintln(c.OutOrStdout(), "that was the password in use here: point [backup] password_file at the new one")
			}
			return nil
		},
	}
	dataDirFlag(cmd, &dataDir)
	return cmd
}

// newBackupInitCommand is `tidemark backup init`: create the repository
// now instead of at the server's first start.
func newBackupInitCommand() *cobra.Command {
	var dataDir string
	var plain bool
	cmd := &cobra.Command{
		Use:   "init [--no-encryption]",
		Short: "Create the backup repository (encrypted with the configured password) if it does not exist",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runBackupInit(c.Context(), c, dataDir, plain)
		},
	}
	dataDirFlag(cmd, &dataDir)
	cmd.Flags().BoolVar(&plain, "no-encryption", false, "create an unencrypted repository (anyone who can read it reads the mail)")
	return cmd
}

func runBackupInit(ctx context.Context, c *cobra.Command, dataDir string, plain bool) error {
	cfg, _, err := loadConfig(dataDir)
	if err != nil {
		return err
	}
	vol, _, err := openRepositoryVolume(ctx, dataDir, cfg.Backup)
	if err != nil {
		return err
	}
	p := repoPassword{dataDir: dataDir, cfgFile: cfg.Backup.PasswordFile}
	pw, err := p.password()
	if err != nil {
		return err
	}
	switch {
	case plain && pw != nil:
		return usagef("--no-encryption, but a password is configured ([backup] password_file or %s)", passwordEnv)
	case !plain && pw == nil:
		if pw, err = newPassword(""); err != nil {
			return fmt.Errorf("no password configured ([backup] password_file or %s): %w", passwordEnv, err)
		}
	}
	host, _ := os.Hostname()
	r, err := repository.InitWith(ctx, vol, time.Now(), &repository.OpenOptions{Password: pw, RequireEncrypted: !plain, Host: host})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.OutOrStdout(), "repository %s (id %s): %s\n", resolve(dataDir, cfg.Backup.Repository), r.ID(), r.EncryptionStatus())
	return nil
}
