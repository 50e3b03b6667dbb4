package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	// IANA zone names (imap.backup_view_timezone) work on hosts without
	// a zoneinfo database, as in minimal containers.
	_ "time/tzdata"

	"github.com/BurntSushi/toml"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/mailserver/imap"
	"github.com/tidemark/tidemark/mailserver/lmtp"
	"github.com/tidemark/tidemark/mailserver/socketmap"
	"github.com/tidemark/tidemark/restore/view"
)

// configFile is the name of the configuration file inside the data directory.
const configFile = "tidemark.toml"

// config is tidemark.toml. Every field has a default (defaultConfig); a file
// only needs the lines that differ. Relative paths are relative to the data
// directory.
type config struct {
	Server  serverConfig  `toml:"server"`
	Storage storageConfig `toml:"storage"`
	LMTP    lmtpConfig    `toml:"lmtp"`
	IMAP    imapConfig    `toml:"imap"`
	// Socketmap answers Postfix's recipient lookups (socketmap.go).
	Socketmap socketmapConfig `toml:"socketmap"`
	Backup    backupConfig    `toml:"backup"`
	// HTTP serves /metrics, the health endpoints and the dashboard
	// (web_wiring.go).
	HTTP httpConfig `toml:"http"`
	// Schedule and Notify configure the operations (operations_wiring.go).
	Schedule scheduleConfig `toml:"schedule"`
	Notify   notifyConfig   `toml:"notify"`
}

type serverConfig struct {
	Hostname string `toml:"hostname"`
	// MemoryLimit is a soft limit, in bytes, on the memory the Go runtime
	// holds (heap, stacks, Pebble's caches allocated through it; not the
	// program's code pages): near it the garbage collector runs more
	// often. 0 leaves the runtime's default (no limit, or GOMEMLIMIT).
	MemoryLimit int64 `toml:"memory_limit"`
}

type storageConfig struct {
	PrimaryVolume     string `toml:"primary_volume"`      // directory under volumes/
	InlineBlobMax     int    `toml:"inline_blob_max"`     // bytes; blobs up to this ride in the redo record
	CompressThreshold int    `toml:"compress_threshold"`  // bytes; -1 keeps primary blobs uncompressed
	MaxMessageSize    int64  `toml:"max_message_size"`    // bytes
	MaxFolderDepth    int    `toml:"max_folder_depth"`    // levels of one folder path; -1 unlimited
	MaxFolders        int    `toml:"max_folders"`         // folders of one account; -1 unlimited
	RedoSync          string `toml:"redo_sync"`           // "always" or "delayed"
	RedoSegmentSize   int64  `toml:"redo_segment_size"`   // bytes
	S3CacheBytes      int64  `toml:"s3_cache_bytes"`      // bytes of local read cache per S3 volume; 0 off
	MetaCacheBytes    int64  `toml:"meta_cache_bytes"`    // Pebble block cache of the projection
	MetaMemtableBytes int64  `toml:"meta_memtable_bytes"` // Pebble memtable size
	HeaderCacheBytes  int    `toml:"header_cache_bytes"`  // parsed message headers for SEARCH and FETCH; -1 off
}

type lmtpConfig struct {
	Listen              string `toml:"listen"`                 // empty disables LMTP
	MaxConnections      int    `toml:"max_connections"`        // open at once; more get 421 4.7.0
	MaxConnectionsPerIP int    `toml:"max_connections_per_ip"` // open at once from one address
	FirstCommandTimeout string `toml:"first_command_timeout"`  // accept to LHLO
	IdleTimeout         string `toml:"idle_timeout"`           // between transaction steps; NOOP does not count
}

type imapConfig struct {
	Listen                   string `toml:"listen"`     // plain IMAP with STARTTLS; empty disables
	TLSListen                string `toml:"tls_listen"` // implicit TLS; empty disables
	Cert                     string `toml:"cert"`
	Key                      string `toml:"key"`
	CleartextLogin           bool   `toml:"cleartext_login"` // allow LOGIN without TLS
	MaxConnectionsPerAccount int    `toml:"max_connections_per_account"`
	MaxConnections           int    `toml:"max_connections"`        // IMAP and IMAPS together; more get * BYE
	MaxConnectionsPerIP      int    `toml:"max_connections_per_ip"` // open at once from one address
	LoginTimeout             string `toml:"login_timeout"`          // accept to LOGIN; NOOP does not extend it
	IdleTimeout              string `toml:"idle_timeout"`
	MaxRequestSize           int64  `toml:"max_request_size"`
	LockoutMaxFailures       int    `toml:"lockout_max_failures"` // 0: no hard lockout, failures only slowed
	LockoutWindow            string `toml:"lockout_window"`
	LockoutDuration          string `toml:"lockout_duration"`
	// BackupViewPrefix is the namespace of the users' read-only view of
	// their backup (Backup/2026-12-01/INBOX); "" turns the view off for
	// every account.
	BackupViewPrefix string `toml:"backup_view_prefix"`
	// BackupViewTimezone is the zone the view's days are named in
	// (Backup/2026-12-01 ends at midnight there): an IANA name such as
	// "Europe/Rome", "UTC", or "" for the server's own zone (TZ, else
	// /etc/localtime), which is how the CLI reads times without a zone.
	BackupViewTimezone string `toml:"backup_view_timezone"`
}

// backupViewLocation is the zone of BackupViewTimezone.
func (c imapConfig) backupViewLocation() (*time.Location, error) {
	if c.BackupViewTimezone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.BackupViewTimezone)
	if err != nil {
		return nil, fmt.Errorf("imap.backup_view_timezone %q: not a time zone name (such as \"Europe/Rome\" or \"UTC\"; \"\" for the server's own): %w", c.BackupViewTimezone, err)
	}
	return loc, nil
}

type backupConfig struct {
	Enabled       bool   `toml:"enabled"`
	Repository    string `toml:"repository"` // directory, or s3://bucket/prefix
	RetentionDays int    `toml:"retention_days"`
	ShipInterval  string `toml:"ship_interval"` // empty: the scanner's default for the target
	// CatalogCacheBytes is the block cache of the backup catalog (its
	// own Pebble): the scanner looks up every changed message in it.
	CatalogCacheBytes int64    `toml:"catalog_cache_bytes"`
	S3                s3Config `toml:"s3"`
	// PasswordFile holds the repository password (relative to the data
	// directory); when set, the repository must be encrypted.
	PasswordFile string `toml:"password_file"`
}

type s3Config struct {
	Endpoint  string `toml:"endpoint"`
	Region    string `toml:"region"`
	AccessKey string `toml:"access_key"`
	SecretKey string `toml:"secret_key"`
	TLS       bool   `toml:"tls"`
}

func defaultConfig() config {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	return config{
		Server: serverConfig{Hostname: host},
		Storage: storageConfig{
			PrimaryVolume:     "primary",
			InlineBlobMax:     64 << 10,
			CompressThreshold: -1,
			S3CacheBytes:      1 << 30,
			MaxMessageSize:    50 << 20,
			MaxFolderDepth:    engine.DefaultMaxFolderDepth,
			MaxFolders:        engine.DefaultMaxFolders,
			RedoSync:          "always",
			RedoSegmentSize:   64 << 20,
			MetaCacheBytes:    engine.DefaultPebbleCacheSize,
			MetaMemtableBytes: engine.DefaultPebbleMemTableSize,
			HeaderCacheBytes:  engine.DefaultHeaderCacheSize,
		},
		LMTP: lmtpConfig{Listen: "127.0.0.1:7025", MaxConnections: lmtp.DefaultMaxConnections,
			MaxConnectionsPerIP: lmtp.DefaultMaxConnectionsPerIP,
			FirstCommandTimeout: lmtp.DefaultFirstCommandTimeout.String(), IdleTimeout: lmtp.DefaultIdleTimeout.String()},
		IMAP: imapConfig{
			Listen:                   "127.0.0.1:7143",
			TLSListen:                "127.0.0.1:7993",
			Cert:                     "tls/cert.pem",
			Key:                      "tls/key.pem",
			MaxConnectionsPerAccount: 20,
			MaxConnections:           imap.DefaultMaxConnections,
			MaxConnectionsPerIP:      imap.DefaultMaxConnectionsPerIP,
			LoginTimeout:             imap.DefaultLoginTimeout.String(),
			IdleTimeout:              "30m",
			MaxRequestSize:           10 << 20,
			LockoutMaxFailures:       0,
			LockoutWindow:            "1h",
			LockoutDuration:          "1h",
			BackupViewPrefix:         view.DefaultPrefix,
		},
		// Off by default: it tells any local process which addresses exist.
		Socketmap: socketmapConfig{MaxConnections: socketmap.DefaultMaxConnections},
		Backup: backupConfig{
			Enabled:           true,
			Repository:        "../tidemark-backup",
			RetentionDays:     30,
			CatalogCacheBytes: catalog.DefaultCacheSize,
		},
		HTTP:     defaultHTTP(),
		Schedule: defaultSchedule(),
		Notify:   notifyConfig{Admins: []string{}},
	}
}

// loadConfig reads dataDir/tidemark.toml over the defaults. Unknown keys are
// an error, so a typo does not silently keep a default.
func loadConfig(dataDir string) (config, []byte, error) {
	path := filepath.Join(dataDir, configFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return defaultConfig(), nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := parseConfig(raw, path)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, raw, nil
}

// parseConfig decodes raw (named name in errors) over the defaults and
// validates it. Unknown keys are an error.
func parseConfig(raw []byte, name string) (config, error) {
	cfg := defaultConfig()
	md, err := toml.Decode(string(raw), &cfg)
	if err != nil {
		return cfg, fmt.Errorf("parse %s: %w", name, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("%s: unknown keys: %s", name, strings.Join(keys, ", "))
	}
	if err := cfg.validate(); err != nil {
		return cfg, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

func (c config) validate() error {
	if p := c.IMAP.BackupViewPrefix; p != "" && (strings.ContainsAny(p, `/\"*%`) || strings.EqualFold(p, "INBOX") || strings.TrimSpace(p) != p) {
		return fmt.Errorf("imap.backup_view_prefix %q: one folder name without /, \\, *, %%, quotes or surrounding spaces, not INBOX (\"\" turns the view off)", p)
	}
	if _, err := c.IMAP.backupViewLocation(); err != nil {
		return err
	}
	switch c.Storage.RedoSync {
	case "always", "delayed":
	default:
		return fmt.Errorf("storage.redo_sync must be \"always\" or \"delayed\", not %q", c.Storage.RedoSync)
	}
	if c.Server.MemoryLimit < 0 {
		return fmt.Errorf("server.memory_limit must be 0 (no limit) or a number of bytes")
	}
	if c.Storage.MaxMessageSize <= 0 {
		return fmt.Errorf("storage.max_message_size must be positive")
	}
	if c.LMTP.MaxConnections < 0 || c.LMTP.MaxConnectionsPerIP < 0 {
		return fmt.Errorf("lmtp.max_connections and lmtp.max_connections_per_ip must be positive (0 takes the default)")
	}
	for key, v := range map[string]string{"lmtp.first_command_timeout": c.LMTP.FirstCommandTimeout, "lmtp.idle_timeout": c.LMTP.IdleTimeout} {
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err != nil || d < 0 {
			return fmt.Errorf("%s: %q is not a duration such as \"30s\"", key, v)
		}
	}
	for key, v := range map[string]string{"lmtp.listen": c.LMTP.Listen, "imap.listen": c.IMAP.Listen,
		"imap.tls_listen": c.IMAP.TLSListen, "socketmap.listen": c.Socketmap.Listen} {
		if v == "" {
			continue
		}
		if err := checkListen(v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	for key, v := range map[string]string{"imap.idle_timeout": c.IMAP.IdleTimeout, "imap.lockout_window": c.IMAP.LockoutWindow,
		"imap.lockout_duration": c.IMAP.LockoutDuration, "imap.login_timeout": c.IMAP.LoginTimeout} {
		if d, err := time.ParseDuration(v); err != nil || d < 0 {
			return fmt.Errorf("%s: %q is not a duration such as \"30m\"", key, v)
		}
	}
	if c.Socketmap.MaxConnections < 0 {
		return fmt.Errorf("socketmap.max_connections must be positive (0 takes the default)")
	}
	if c.Backup.CatalogCacheBytes < 0 {
		return fmt.Errorf("backup.catalog_cache_bytes must be 0 (the default, %d) or a number of bytes", catalog.DefaultCacheSize)
	}
	if c.Backup.RetentionDays < 0 {
		return fmt.Errorf("backup.retention_days must be 0 (forever) or more")
	}
	if err := c.HTTP.validate(); err != nil {
		return err
	}
	if _, err := c.Schedule.entries(); err != nil {
		return err
	}
	return c.Notify.validate()
}

// encodeConfig renders cfg as TOML with a header, for tidemark init.
func encodeConfig(cfg config, notes ...string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# tidemark configuration. Relative paths are relative to this directory.\n")
	buf.WriteString("# Every key is optional; removed keys take their defaults.\n")
	if strings.HasPrefix(cfg.Backup.Repository, "s3://") && cfg.Backup.S3.SecretKey == "" {
		fmt.Fprintf(&buf, "# backup.s3.secret_key is empty: the server reads the S3 secret key from %s.\n", s3SecretEnv)
	}
	for _, n := range notes {
		fmt.Fprintf(&buf, "# %s\n", n)
	}
	buf.WriteString("\n")
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// resolve makes a config path absolute against the data directory.
func resolve(dataDir, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
		return p
	}
	return filepath.Join(dataDir, p)
}
