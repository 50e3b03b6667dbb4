package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/importer"
	"github.com/tidemark/tidemark/operations"
)

func init() { commands = append(commands, newImportCommand) }

const importLong = `Bring mail in from outside: mbox files, a Maildir or Maildir++ tree, or a
live IMAP server (Dovecot, Zimbra, any). Bodies are stored byte for byte;
flags, keywords, internal dates and folders are carried over; malformed
messages are imported as they are. Every message goes through the engine
like a delivery: it is in the redo log and reaches the backup.

Running the same import again brings only what is new (remote: UIDVALIDITY
and UID; files: names, offsets and digests), so a migration is: import,
switch the MX, import again. The position is kept in <data>/import/ and is
saved after every committed batch; messages committed after the last saved
position (an import cut by a crash or an outage) are recognised by content
on the next run and not imported twice.

An import is an operation (kind "import", in the backup queue): when a
server runs on the data directory it is submitted to it, the command prints
its id and returns, or with --sync follows it to its end; with no server it
runs in this process. Paths and --password-file must be readable by the
server. Progress goes to standard error, the operation and its report to
standard output (--json for scripts). Exit codes (--sync, or no server): 0
done, 1 failed (stopped before the end by an error, or some messages could
not be imported: both listed in the report; a rerun continues), 2 stopped,
4 interrupted.`

func newImportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import mail from mbox, Maildir or a remote IMAP server",
		Long:  importLong,
	}
	cmd.AddCommand(newImportMboxCommand(), newImportMaildirCommand(), newImportIMAPCommand())
	return cmd
}

// kindImport is the operation kind of every import.
const kindImport = "import"

// importDir holds the import state files and, briefly, passwords given on
// standard input, inside the data directory.
const importDir = "import"

// importParams are an import operation's parameters. They are kept with the
// operation, so they never hold a password: --password-file is referenced
// by path, and a password read from standard input is handed over in a
// private file under <data>/import/secrets/ that the job deletes as soon as
// it has read it (a resubmitted import must be given it again).
type importParams struct {
	Source  string `json:"source"` // mbox, maildir or imap
	Account string `json:"account"`
	// mbox and maildir
	Path    string `json:"path,omitempty"`
	Folder  string `json:"folder,omitempty"`
	Quoting string `json:"quoting,omitempty"`
	// imap
	Host               string   `json:"host,omitempty"`
	Port               int      `json:"port,omitempty"`
	TLS                bool     `json:"tls,omitempty"` // false: STARTTLS
	User               string   `json:"user,omitempty"`
	PasswordFile       string   `json:"password_file,omitempty"`
	PasswordSecret     string   `json:"password_secret,omitempty"` // name under <data>/import/secrets/
	CA                 string   `json:"ca,omitempty"`
	InsecureSkipVerify bool     `json:"insecure_skip_verify,omitempty"`
	Folders            []string `json:"folders,omitempty"`
	TimeoutSeconds     float64  `json:"timeout_seconds,omitempty"`
}

// importCommon holds the flags every import takes.
type importCommon struct {
	opOptions
	into string
}

func (c *importCommon) bind(cmd *cobra.Command) {
	opFlags(cmd, &c.opOptions)
	f := cmd.Flags()
	f.StringVar(&c.into, "into", "", "account (address) to import into (required)")
	f.BoolVar(&c.sync, "sync", false, "when a server runs: wait for the import to end, showing its progress")
}

func (c *importCommon) check() error {
	if c.into == "" {
		return usagef("--into ACCOUNT is required")
	}
	return nil
}

func absPath(flag, p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return abs, nil
}

func newImportMboxCommand() *cobra.Command {
	var c importCommon
	var folder, quoting string
	cmd := &cobra.Command{
		Use:   "mbox FILE|DIR --into ACCOUNT [--folder F] [--quoting mboxrd|mboxo] [--sync]",
		Short: "Import an mbox file, or a directory of them (one folder per file)",
		Long: `Import an mbox file into --folder (default: the file's name, "inbox" being
INBOX), or every mbox file under a directory into folders named by their
paths (Thunderbird's X.sbd directories hold the children of X), under
--folder when given. Flags come from Status:, X-Status: and X-Keywords:,
the internal date from the "From " line. --quoting says how the writer
escaped body lines starting "From ": mboxrd (default; Dovecot, most
archivers) removes one ">" from every ">...>From " line, mboxo removes it
from ">From " lines only.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.check(); err != nil {
				return err
			}
			q := importer.Quoting(quoting)
			if q != importer.MboxRD && q != importer.MboxO {
				return usagef("--quoting must be mboxrd or mboxo")
			}
			path, err := absPath("mbox", args[0])
			if err != nil {
				return err
			}
			return submitImport(cmd, c, importParams{Source: "mbox", Account: c.into, Path: path, Folder: folder, Quoting: quoting})
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&folder, "folder", "", "target folder (a file) or parent folder (a directory)")
	cmd.Flags().StringVar(&quoting, "quoting", string(importer.MboxRD), "mboxrd or mboxo")
	return cmd
}

func newImportMaildirCommand() *cobra.Command {
	var c importCommon
	var folder string
	cmd := &cobra.Command{
		Use:   "maildir DIR --into ACCOUNT [--folder F] [--sync]",
		Short: "Import a Maildir or a Maildir++ tree",
		Long: `Import a Maildir: its messages go to INBOX (or --folder), its Maildir++
subfolders (.a.b) to folders a/b (under --folder when given). ":2," flags
become IMAP flags, lower-case letters the keywords of dovecot-keywords;
the internal date is the file's modification time.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.check(); err != nil {
				return err
			}
			path, err := absPath("maildir", args[0])
			if err != nil {
				return err
			}
			return submitImport(cmd, c, importParams{Source: "maildir", Account: c.into, Path: path, Folder: folder})
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&folder, "folder", "", "folder for the root maildir (default INBOX)")
	return cmd
}

func newImportIMAPCommand() *cobra.Command {
	var c importCommon
	var p importParams
	var pwFile, caFile, folders string
	var startTLS, pwStdin bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "imap --host H [--port P] --tls|--starttls --user U --password-stdin|--password-file F --into ACCOUNT [--folders a,b] [--sync]",
		Short: "Import a mailbox from a live IMAP server",
		Long: `Import every folder (or --folders) of one user on an IMAP server, read-only:
folders are EXAMINEd and bodies fetched with BODY.PEEK[], so nothing changes
on the server. The password is read from standard input (--password-stdin)
or a file (--password-file), never from the command line, and is never
stored with the operation. The server's certificate is checked against the
system roots, or --ca FILE. --timeout bounds the connection and every read
and write while a command is outstanding.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.check(); err != nil {
				return err
			}
			switch {
			case p.Host == "":
				return usagef("--host is required")
			case p.User == "":
				return usagef("--user is required")
			case p.TLS == startTLS:
				return usagef("give one of --tls (implicit TLS) or --starttls")
			case pwStdin == (pwFile != ""):
				return usagef("give one of --password-stdin or --password-file")
			case timeout <= 0:
				return usagef("--timeout must be positive")
			}
			if p.Port == 0 {
				p.Port = 143
				if p.TLS {
					p.Port = 993
				}
			}
			var err error
			if caFile != "" {
				if p.CA, err = absPath("--ca", caFile); err != nil {
					return err
				}
			}
			if pwFile != "" {
				if p.PasswordFile, err = absPath("--password-file", pwFile); err != nil {
					return err
				}
			} else {
				pw, err := readFirstLine(os.Stdin)
				if err != nil {
					return err
				}
				if p.PasswordSecret, err = writeImportSecret(c.dataDir, pw); err != nil {
					return err
				}
			}
			if p.InsecureSkipVerify {
				fmt.Fprintln(os.Stderr, "import: warning: --insecure-skip-verify: the server's certificate is not checked")
			}
			p.Source, p.Account, p.Folders, p.TimeoutSeconds = "imap", c.into, splitList(folders), timeout.Seconds()
			return submitImport(cmd, c, p)
		},
	}
	c.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&p.Host, "host", "", "IMAP server host name or address")
	f.IntVar(&p.Port, "port", 0, "IMAP server port (default 993 with --tls, 143 with --starttls)")
	f.BoolVar(&p.TLS, "tls", false, "implicit TLS (IMAPS)")
	f.BoolVar(&startTLS, "starttls", false, "STARTTLS on a cleartext port")
	f.StringVar(&p.User, "user", "", "login name on the server")
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	f.StringVar(&pwFile, "password-file", "", "read the password from the first line of this file (when the import runs)")
	f.StringVar(&folders, "folders", "", "comma-separated remote folders to import (default: all)")
	f.StringVar(&caFile, "ca", "", "PEM file of the certificate authority (or self-signed certificate) to trust")
	f.BoolVar(&p.InsecureSkipVerify, "insecure-skip-verify", false, "do not check the server's certificate (tests only)")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "deadline of the connection and of every read and write")
	return cmd
}

// submitImport checks the account here for a quick answer to a typo, then
// submits the import (to the running server, or in this process).
func submitImport(cmd *cobra.Command, c importCommon, p importParams) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var acct engine.Account
	err = callAdmin(cmd.Context(), c.dataDir, "account.show", accountArgs{Address: p.Account}, &acct)
	if err != nil {
		err = fmt.Errorf("--into %s: %w", p.Account, err)
	} else {
		err = submitOperation(cmd.Context(), cmd, c.opOptions, kindImport, raw)
	}
	if err != nil && p.PasswordSecret != "" {
		// Not started (or it failed before reading it): do not leave it.
		_ = os.Remove(filepath.Join(c.dataDir, importDir, "secrets", p.PasswordSecret))
	}
	return err
}

// readFirstLine reads a password: the first line, at most 4 KiB.
func readFirstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("empty password")
	}
	return pw, nil
}

// writeImportSecret hands a password to the import job in a private file
// (0600 in a 0700 directory) and returns its name.
func writeImportSecret(dataDir, pw string) (string, error) {
	if _, err := os.Stat(filepath.Join(dataDir, configFile)); err != nil {
		return "", fmt.Errorf("%s is not a tidemark data directory (run tidemark init or tidemark serve first)", dataDir)
	}
	dir := filepath.Join(dataDir, importDir, "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := hex.EncodeToString(b[:])
	if err := os.WriteFile(filepath.Join(dir, name), []byte(pw), 0o600); err != nil {
		return "", err
	}
	return name, nil
}

// registerImportJob registers the import kind over d.
func registerImportJob(m *operations.Manager, d *jobDeps) {
	dataDir := d.dataDir
	m.Register(kindImport, operations.LaneBackup, func(ctx context.Context, raw json.RawMessage, t *operations.Tracker) (any, error) {
		var p importParams
		if err := jobParams(raw, &p); err != nil {
			return nil, err
		}
		src, err := importSource(dataDir, p, d.cfg.Storage.MaxMessageSize)
		if err != nil {
			return nil, err
		}
		defer src.Close()
		acct, err := d.eng.LookupAccount(ctx, p.Account)
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", p.Account, err)
		}
		o := importer.Options{
			Account: acct.ID, AccountName: acct.Address,
			StateDir:       filepath.Join(dataDir, importDir),
			MaxMessageSize: d.cfg.Storage.MaxMessageSize,
			ProgressEvery:  200 * time.Millisecond,
			Now:            time.Now,
			Progress: importer.ProgressFunc(func(s importer.Status) {
				t.SetTotal(max(s.TotalMessages, 0), 0)
				t.Set(s.Messages, s.Bytes)
				t.Step(s.Folder)
			}),
		}
		rep, err := importer.Run(ctx, d.eng, src, o)
		if err != nil {
			return rep, fmt.Errorf("%w; run the import again to continue from there", err)
		}
		if rep.Failed > 0 {
			return rep, fmt.Errorf("%d messages not imported (listed in the report): %w", rep.Failed, importer.ErrIncomplete)
		}
		return rep, nil
	})
}

// importSource makes the job's source from its parameters. A password
// handed over on standard input is read and its file deleted at once.
func importSource(dataDir string, p importParams, maxSize int64) (importer.Source, error) {
	switch p.Source {
	case "mbox":
		return &importer.Mbox{Path: p.Path, Folder: p.Folder, Quoting: importer.Quoting(p.Quoting), MaxMessageSize: maxSize}, nil
	case "maildir":
		return &importer.Maildir{Dir: p.Path, Root: p.Folder, MaxMessageSize: maxSize}, nil
	case "imap":
	default:
		return nil, fmt.Errorf("parameters: source %q (mbox, maildir or imap)", p.Source)
	}
	var pw string
	switch {
	case p.PasswordSecret != "":
		if strings.ContainsAny(p.PasswordSecret, "/\\.") {
			return nil, fmt.Errorf("parameters: bad password_secret")
		}
		path := filepath.Join(dataDir, importDir, "secrets", p.PasswordSecret)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("the password given on standard input is used once and is gone; submit the import again with --password-stdin, or use --password-file")
		}
		if err != nil {
			return nil, err
		}
		_ = os.Remove(path)
		pw = string(b)
	case p.PasswordFile != "":
		fh, err := os.Open(p.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password file: %w", err)
		}
		defer fh.Close()
		if pw, err = readFirstLine(fh); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("parameters: no password_file or password_secret")
	}
	cfg := &tls.Config{ServerName: p.Host, InsecureSkipVerify: p.InsecureSkipVerify}
	if p.CA != "" {
		pem, err := os.ReadFile(p.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca %s holds no PEM certificate", p.CA)
		}
	}
	return &importer.Remote{Addr: net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), TLS: p.TLS, TLSConfig: cfg,
		User: p.User, Password: pw, Only: p.Folders, Timeout: time.Duration(p.TimeoutSeconds * float64(time.Second)),
		MaxMessageSize: maxSize}, nil
}
