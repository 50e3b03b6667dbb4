package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/tidemark/tidemark/internal/datadir"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tidemark/tidemark/mailserver/imap"
)

func init() { commands = append(commands, newInitCommand) }

func newInitCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a data directory with tidemark.toml, a self-signed TLS certificate and the primary volume",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// Like a first serve, a failed init leaves nothing behind.
			_, err := firstStart(dataDir, c.OutOrStdout())
			return err
		},
	}
	dataDirFlag(cmd, &dataDir)
	return cmd
}

// runInit creates dataDir with the embedded defaults. It refuses a directory
// that already holds a configuration, so it never overwrites a server.
func runInit(dataDir string, out io.Writer) error {
	cfgPath := filepath.Join(dataDir, configFile)
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("%s already exists; not overwriting an existing data directory", cfgPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	cfg := defaultConfig()
	if err := os.MkdirAll(datadir.VolumeDir(dataDir, cfg.Storage.PrimaryVolume), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := writeSelfSigned(dataDir, cfg); err != nil {
		return err
	}
	// The backup repository is encrypted by default: a random password
	// in the data directory, named by [backup] password_file.
	var pw [24]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return err
	}
	pwName, err := writePasswordFile(dataDir, []byte(base64.RawURLEncoding.EncodeToString(pw[:])))
	if err != nil {
		return err
	}
	cfg.Backup.PasswordFile = pwName
	raw, err := encodeConfig(cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		return err
	}
	if _, err := createIdentity(dataDir); err != nil {
		return err
	}
	abs, _ := filepath.Abs(dataDir)
	repo := resolve(abs, cfg.Backup.Repository)
	fmt.Fprintf(out, "initialised %s:\n", abs)
	fmt.Fprintf(out, "  %-28s configuration (defaults; edit to change)\n", configFile)
	fmt.Fprintf(out, "  %-28s self-signed TLS certificate for IMAPS and STARTTLS\n", cfg.IMAP.Cert+", "+cfg.IMAP.Key)
	fmt.Fprintf(out, "  %-28s primary message volume\n", datadir.Volumes+"/"+cfg.Storage.PrimaryVolume+"/")
	fmt.Fprintf(out, "  %-28s this server's identity (which backup repository it owns)\n", identityFile)
	fmt.Fprintf(out, "  %-28s password of the encrypted backup repository: keep a copy away\n", cfg.Backup.PasswordFile)
	fmt.Fprintf(out, "  %-28s from this server, without it the backup cannot be restored\n", "")
	fmt.Fprintf(out, "  backup repository: %s\n", repo)
	return nil
}

// writeSelfSigned writes a self-signed certificate and key where cfg's IMAP
// TLS settings point, for a new data directory or one rebuilt from a backup
// (which never holds private keys).
func writeSelfSigned(dataDir string, cfg config) error {
	certPath, keyPath := resolve(dataDir, cfg.IMAP.Cert), resolve(dataDir, cfg.IMAP.Key)
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		return err
	}
	certPEM, keyPEM, err := imap.GenerateSelfSigned([]string{cfg.Server.Hostname, "localhost", "127.0.0.1"})
	if err != nil {
		return fmt.Errorf("generate TLS certificate: %w", err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, certPEM, 0o600)
}
