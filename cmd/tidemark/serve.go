package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/mailserver/imap"
	"github.com/tidemark/tidemark/mailserver/lmtp"
	"github.com/tidemark/tidemark/web"
)

func init() { commands = append(commands, newServeCommand) }

type serveOptions struct {
	dataDir   string
	lmtpAddr  string
	imapAddr  string
	imapsAddr string
	httpAddr  string
	smapAddr  string
	noBackup  bool
	insecure  bool
	logJSON   bool
}

func newServeCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the mail server: LMTP, IMAP, the admin socket and the real-time backup",
		Long: `serve opens the data directory (initialising it with the embedded defaults when
it does not exist), replays the redo log, and serves LMTP for delivery, IMAP for
clients and the admin socket for the tidemark commands, while the real-time
scanner keeps the backup repository current. Stop it with Ctrl-C or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runServe(c.Context(), o, c)
		},
	}
	dataDirFlag(cmd, &o.dataDir)
	f := cmd.Flags()
	f.StringVar(&o.lmtpAddr, "lmtp", "", "LMTP listen address (overrides lmtp.listen; \"off\" disables)")
	f.StringVar(&o.imapAddr, "imap", "", "IMAP listen address (overrides imap.listen; \"off\" disables)")
	f.StringVar(&o.imapsAddr, "imaps", "", "IMAPS listen address (overrides imap.tls_listen; \"off\" disables)")
	f.StringVar(&o.httpAddr, "http", "", "HTTP listen address of /metrics, /healthz, /readyz and the dashboard (overrides http.listen; \"off\" disables)")
	f.StringVar(&o.smapAddr, "socketmap", "", "Postfix socketmap listen address (overrides socketmap.listen; \"off\" disables)")
	f.BoolVar(&o.noBackup, "no-backup", false, "do not run the real-time backup scanner")
	f.BoolVar(&o.insecure, "allow-cleartext-login", false, "allow IMAP LOGIN without TLS (overrides imap.cleartext_login)")
	f.BoolVar(&o.logJSON, "log-json", false, "log as JSON lines (same as --log-format json)")
	_ = f.MarkHidden("log-json")
	return cmd
}

func override(dst *string, v string) {
	switch v {
	case "":
	case "off":
		*dst = ""
	default:
		*dst = v
	}
}

func runServe(ctx context.Context, o serveOptions, c *cobra.Command) (err error) {
	if o.logJSON {
		logFlags.format = "json"
	}
	log := newLogger(os.Stderr, slog.LevelInfo)
	serving := false // every listener is up

	// The command line is checked before anything is created or opened.
	for flag, v := range map[string]string{"--lmtp": o.lmtpAddr, "--imap": o.imapAddr, "--imaps": o.imapsAddr, "--http": o.httpAddr, "--socketmap": o.smapAddr} {
		if v != "" && v != "off" {
			if err := checkListen(v); err != nil {
				return usagef("%s: %v", flag, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(o.dataDir, configFile)); errors.Is(err, fs.ErrNotExist) {
		log.Info("no data directory yet, initialising it with the embedded defaults", "data", o.dataDir)
		created, ierr := firstStart(o.dataDir, c.ErrOrStderr())
		if ierr != nil {
			return ierr
		}
		// A first start that fails before it serves takes back what it
		// created, so the next attempt starts afresh.
		defer func() {
			if err != nil && !serving {
				created.remove(log)
			}
		}()
	}
	cfg, rawCfg, err := loadConfig(o.dataDir)
	if err != nil {
		return err
	}
	if cfg.Server.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.Server.MemoryLimit)
	}
	override(&cfg.LMTP.Listen, o.lmtpAddr)
	override(&cfg.IMAP.Listen, o.imapAddr)
	override(&cfg.IMAP.TLSListen, o.imapsAddr)
	override(&cfg.HTTP.Listen, o.httpAddr)
	override(&cfg.Socketmap.Listen, o.smapAddr)
	if o.insecure {
		cfg.IMAP.CleartextLogin = true
	}
	if o.noBackup {
		cfg.Backup.Enabled = false
	}
	var imapOpts *imap.Options
	if cfg.IMAP.Listen != "" || cfg.IMAP.TLSListen != "" {
		if imapOpts, err = imapOptions(o.dataDir, cfg, log); err != nil {
			return err
		}
	}

	// The engine must not delete a blob, nor trim the redo log, before the
	// backup has shipped what refers to it: it is told the backup
	// service's safe position, 0 until the scanner runs.
	var svc *backup.Service
	var safeLSN func() uint64
	var eng *engine.Engine
	if cfg.Backup.Enabled {
		if svc, err = newBackupService(ctx, o.dataDir, cfg, rawCfg, &eng, log); err != nil {
			return err
		}
		safeLSN = svc.SafeLSN
	}
	metrics := web.NewMetrics()
	eng, err = openEngine(o.dataDir, cfg, log, safeLSN, observedEngineOptions(metrics),
		func(o *engine.Options) { o.LogRetention = time.Minute })
	if err != nil {
		return err
	}
	defer func() {
		if err := eng.Close(); err != nil {
			log.Error("close engine", "err", err)
		}
	}()
	log.Info("engine open", "data", o.dataDir, "applied_lsn", eng.AppliedLSN())

	admin := &adminServer{eng: eng, cfg: cfg, dataDir: o.dataDir}
	if svc != nil {
		if err := svc.Start(ctx, enginesrc.New(eng)); err != nil {
			return err
		}
		defer func() {
			if err := svc.Close(); err != nil {
				log.Error("stop backup scanner", "err", err)
			}
		}()
		admin.backup = svc
	} else {
		log.Warn("real-time backup is off (backup.enabled = false or --no-backup): nothing protects this server's mail")
	}

	ops, sched, stopOps, err := startOperations(ctx, o.dataDir, cfg, eng, admin.backup, metrics.OperationEnded, log)
	if err != nil {
		return err
	}
	defer stopOps()
	admin.ops, admin.sched = ops, sched

	stopAdmin, err := serveAdmin(ctx, o.dataDir, admin, log)
	if err != nil {
		return err
	}
	defer stopAdmin()

	webb := &serveBackend{dataDir: o.dataDir, cfg: cfg, eng: eng, backup: admin.backup, where: resolve(o.dataDir, cfg.Backup.Repository), ops: ops}
	stopWeb, err := startWeb(o.dataDir, cfg, metrics, webb, log)
	if err != nil {
		return err
	}
	defer stopWeb()

	errc := make(chan error, 4)
	if cfg.LMTP.Listen != "" {
		// validate checked the durations; "" takes the default.
		first, _ := time.ParseDuration(cfg.LMTP.FirstCommandTimeout)
		idle, _ := time.ParseDuration(cfg.LMTP.IdleTimeout)
		srv := lmtp.NewServer(eng, &lmtp.Options{
			Hostname:            cfg.Server.Hostname,
			MaxMessageSize:      cfg.Storage.MaxMessageSize,
			MaxConnections:      cfg.LMTP.MaxConnections,
			MaxConnectionsPerIP: cfg.LMTP.MaxConnectionsPerIP,
			FirstCommandTimeout: first,
			IdleTimeout:         idle,
			Logger:              log,
			Now:                 time.Now,
			Observer:            metrics.LMTP(),
		})
		l, err := net.Listen("tcp", cfg.LMTP.Listen)
		if err != nil {
			return fmt.Errorf("lmtp: %w", err)
		}
		log.Info("LMTP listening", "addr", l.Addr().String())
		go func() { errc <- srv.Serve(l) }()
		defer srv.Close()
	}
	if imapOpts != nil {
		imapOpts.Observer = metrics.IMAP()
		if cfg.IMAP.BackupViewPrefix != "" {
			imapOpts.Sources = newBackupViews(eng, cfg, admin.backup, log)
		}
		srv := imap.NewServer(eng, imapOpts)
		defer srv.Close()
		if cfg.IMAP.Listen != "" {
			l, err := net.Listen("tcp", cfg.IMAP.Listen)
			if err != nil {
				return fmt.Errorf("imap: %w", err)
			}
			log.Info("IMAP listening", "addr", l.Addr().String(), "cleartext_login", cfg.IMAP.CleartextLogin)
			go func() { errc <- srv.Serve(l) }()
		}
		if cfg.IMAP.TLSListen != "" {
			l, err := net.Listen("tcp", cfg.IMAP.TLSListen)
			if err != nil {
				return fmt.Errorf("imaps: %w", err)
			}
			log.Info("IMAPS listening", "addr", l.Addr().String())
			go func() { errc <- srv.ServeTLS(l) }()
		}
	}
	if cfg.Socketmap.Listen != "" {
		stop, err := startSocketmap(cfg.Socketmap, eng, log, errc)
		if err != nil {
			return err
		}
		defer stop()
	}
	webb.listening(cfg)
	serving = true
	log.Info("tidemark serving", "admin_socket", filepath.Join(o.dataDir, adminSocket))
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("tell the service manager the server is ready", "err", err)
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		_ = sdNotify("STOPPING=1")
		return nil
	case err := <-errc:
		_ = sdNotify("STOPPING=1")
		return err
	}
}

func imapOptions(dataDir string, cfg config, log *slog.Logger) (*imap.Options, error) {
	cert, err := tls.LoadX509KeyPair(resolve(dataDir, cfg.IMAP.Cert), resolve(dataDir, cfg.IMAP.Key))
	if err != nil {
		return nil, fmt.Errorf("imap TLS certificate: %w", err)
	}
	idle, err := time.ParseDuration(cfg.IMAP.IdleTimeout)
	if err != nil {
		return nil, fmt.Errorf("imap.idle_timeout: %w", err)
	}
	loginTimeout, err := time.ParseDuration(cfg.IMAP.LoginTimeout)
	if err != nil {
		return nil, fmt.Errorf("imap.login_timeout: %w", err)
	}
	window, err := time.ParseDuration(cfg.IMAP.LockoutWindow)
	if err != nil {
		return nil, fmt.Errorf("imap.lockout_window: %w", err)
	}
	lockFor, err := time.ParseDuration(cfg.IMAP.LockoutDuration)
	if err != nil {
		return nil, fmt.Errorf("imap.lockout_duration: %w", err)
	}
	return &imap.Options{
		TLSConfig:           serverTLSConfig(cert),
		AllowInsecureAuth:   cfg.IMAP.CleartextLogin,
		LockoutMaxFailures:  cfg.IMAP.LockoutMaxFailures,
		LockoutWindow:       window,
		LockoutDuration:     lockFor,
		MaxConnsPerAccount:  cfg.IMAP.MaxConnectionsPerAccount,
		MaxConnections:      cfg.IMAP.MaxConnections,
		MaxConnectionsPerIP: cfg.IMAP.MaxConnectionsPerIP,
		LoginTimeout:        loginTimeout,
		MaxFolderDepth:      cfg.Storage.MaxFolderDepth,
		MaxFolders:          cfg.Storage.MaxFolders,
		IdleTimeout:         idle,
		MaxRequestSize:      cfg.IMAP.MaxRequestSize,
		AppendLimit:         uint32(min(cfg.Storage.MaxMessageSize, 1<<32-1)),
		Now:                 time.Now,
		Logger:              log,
	}, nil
}
