package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
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

The import runs in this process and opens the data directory: stop
"tidemark serve" first. Progress goes to standard error; the report to
standard output (--json for scripts). Exit codes: 0 done, 1 stopped before
the end (the rerun continues from there), 4 interrupted, 5 some messages
could not be imported (listed in the report).`

func newImportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import mail from mbox, Maildir or a remote IMAP server",
		Long:  importLong,
	}
	cmd.AddCommand(newImportMboxCommand(), newImportMaildirCommand(), newImportIMAPCommand())
	return cmd
}

// importCommon holds the flags every import takes.
type importCommon struct {
	dataDir string
	into    string
	json    bool
	quiet   bool
}

func (c *importCommon) bind(cmd *cobra.Command) {
	dataDirFlag(cmd, &c.dataDir)
	f := cmd.Flags()
	f.StringVar(&c.into, "into", "", "account (address) to import into (required)")
	f.BoolVar(&c.json, "json", false, "print the report as JSON")
	f.BoolVar(&c.quiet, "quiet", false, "no progress lines on standard error")
}

func (c *importCommon) check() error {
	if c.into == "" {
		return usagef("--into ACCOUNT is required")
	}
	return nil
}

func newImportMboxCommand() *cobra.Command {
	var c importCommon
	var folder, quoting string
	cmd := &cobra.Command{
		Use:   "mbox FILE|DIR --into ACCOUNT [--folder F] [--quoting mboxrd|mboxo]",
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
			return runImport(cmd, c, func(max int64) importer.Source {
				return &importer.Mbox{Path: args[0], Folder: folder, Quoting: q, MaxMessageSize: max}
			})
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
		Use:   "maildir DIR --into ACCOUNT [--folder F]",
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
			return runImport(cmd, c, func(max int64) importer.Source {
				return &importer.Maildir{Dir: args[0], Root: folder, MaxMessageSize: max}
			})
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&folder, "folder", "", "folder for the root maildir (default INBOX)")
	return cmd
}

func newImportIMAPCommand() *cobra.Command {
	var c importCommon
	var host, user, pwFile, caFile, folders string
	var port int
	var useTLS, startTLS, pwStdin, insecure bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "imap --host H [--port P] --tls|--starttls --user U --password-stdin|--password-file F --into ACCOUNT [--folders a,b]",
		Short: "Import a mailbox from a live IMAP server",
		Long: `Import every folder (or --folders) of one user on an IMAP server, read-only:
folders are EXAMINEd and bodies fetched with BODY.PEEK[], so nothing changes
on the server. The password is read from standard input (--password-stdin)
or a file (--password-file), never from the command line. The server's
certificate is checked against the system roots, or --ca FILE.
--timeout bounds the connection and every read and write while a command
is outstanding.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.check(); err != nil {
				return err
			}
			switch {
			case host == "":
				return usagef("--host is required")
			case user == "":
				return usagef("--user is required")
			case useTLS == startTLS:
				return usagef("give one of --tls (implicit TLS) or --starttls")
			case pwStdin == (pwFile != ""):
				return usagef("give one of --password-stdin or --password-file")
			case timeout <= 0:
				return usagef("--timeout must be positive")
			}
			if port == 0 {
				port = 143
				if useTLS {
					port = 993
				}
			}
			pw, err := importPassword(pwStdin, pwFile)
			if err != nil {
				return err
			}
			cfg := &tls.Config{ServerName: host, InsecureSkipVerify: insecure}
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca: %w", err)
				}
				cfg.RootCAs = x509.NewCertPool()
				if !cfg.RootCAs.AppendCertsFromPEM(pem) {
					return usagef("--ca %s holds no PEM certificate", caFile)
				}
			}
			if insecure {
				fmt.Fprintln(os.Stderr, "import: warning: --insecure-skip-verify: the server's certificate is not checked")
			}
			return runImport(cmd, c, func(max int64) importer.Source {
				return &importer.Remote{Addr: net.JoinHostPort(host, strconv.Itoa(port)), TLS: useTLS, TLSConfig: cfg,
					User: user, Password: pw, Only: splitList(folders), Timeout: timeout, MaxMessageSize: max}
			})
		},
	}
	c.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&host, "host", "", "IMAP server host name or address")
	f.IntVar(&port, "port", 0, "IMAP server port (default 993 with --tls, 143 with --starttls)")
	f.BoolVar(&useTLS, "tls", false, "implicit TLS (IMAPS)")
	f.BoolVar(&startTLS, "starttls", false, "STARTTLS on a cleartext port")
	f.StringVar(&user, "user", "", "login name on the server")
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	f.StringVar(&pwFile, "password-file", "", "read the password from the first line of this file")
	f.StringVar(&folders, "folders", "", "comma-separated remote folders to import (default: all)")
	f.StringVar(&caFile, "ca", "", "PEM file of the certificate authority (or self-signed certificate) to trust")
	f.BoolVar(&insecure, "insecure-skip-verify", false, "do not check the server's certificate (tests only)")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "deadline of the connection and of every read and write")
	return cmd
}

// importPassword reads the first line of standard input or of a file.
func importPassword(fromStdin bool, file string) (string, error) {
	var r io.Reader = os.Stdin
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer fh.Close()
		r = fh
	}
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

// runImport opens the data directory (refusing when a server holds it),
// resolves the account, runs the import and prints the report.
func runImport(cmd *cobra.Command, c importCommon, source func(maxMessageSize int64) importer.Source) error {
	ctx := cmd.Context()
	eng, cfg, err := openEngineForAdmin(c.dataDir)
	if err != nil {
		if errors.Is(err, engine.ErrLocked) {
			return fmt.Errorf("a tidemark server holds %s: stop tidemark serve first (import runs in this process): %w", c.dataDir, err)
		}
		return err
	}
	defer eng.Close()
	acct, err := eng.LookupAccount(ctx, c.into)
	if err != nil {
		return fmt.Errorf("--into %s: %w", c.into, err)
	}
	src := source(cfg.Storage.MaxMessageSize)
	defer src.Close()
	o := importer.Options{
		Account: acct.ID, AccountName: acct.Address,
		StateDir:       filepath.Join(c.dataDir, "import"),
		MaxMessageSize: cfg.Storage.MaxMessageSize,
		Now:            time.Now,
	}
	if !c.quiet {
		o.Progress = importer.ProgressFunc(func(s importer.Status) { fmt.Fprintln(os.Stderr, "import:", s) })
	}
	rep, runErr := importer.Run(ctx, eng, src, o)
	if c.json {
		err = printJSON(cmd.OutOrStdout(), rep)
	} else {
		_, err = fmt.Fprint(cmd.OutOrStdout(), rep)
	}
	if err != nil {
		return err
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: import interrupted; run it again to continue", context.Canceled)
		}
		return fmt.Errorf("%w; run it again to continue from there", runErr)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d messages not imported (listed in the report): %w", rep.Failed, importer.ErrIncomplete)
	}
	return nil
}
