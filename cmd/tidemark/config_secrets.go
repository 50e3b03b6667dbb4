package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Secrets are never copied into a backup: catalog snapshots carry
// tidemark.toml without them (snapshotConfig), and a server reads them from
// its environment when its tidemark.toml leaves them empty.
const (
	s3AccessEnv     = "TIDEMARK_S3_ACCESS_KEY"
	s3SecretEnv     = "TIDEMARK_S3_SECRET_KEY"
	s3SecretFileEnv = "TIDEMARK_S3_SECRET_KEY_FILE"
)

// s3SecretFromEnv returns the S3 secret key from TIDEMARK_S3_SECRET_KEY, or
// read from the file TIDEMARK_S3_SECRET_KEY_FILE names (trailing newline
// dropped); "" when neither is set.
func s3SecretFromEnv() (string, error) {
	if sk := os.Getenv(s3SecretEnv); sk != "" {
		return sk, nil
	}
	if f := os.Getenv(s3SecretFileEnv); f != "" {
		return readSecretFile(f)
	}
	return "", nil
}

// readSecretFile reads a secret from a file, without its trailing newline.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read S3 secret key: %w", err)
	}
	sk := strings.TrimRight(string(b), "\r\n")
	if sk == "" {
		return "", fmt.Errorf("S3 secret key file %s is empty", path)
	}
	return sk, nil
}

// snapshotConfig returns the copy of tidemark.toml stored in catalog
// snapshots: raw as it is when it holds no secret, else re-encoded without
// the secrets and with a note naming what was removed and where a restored
// server takes it from.
func snapshotConfig(raw []byte) ([]byte, error) {
	cfg, err := parseConfig(raw, configFile)
	if err != nil {
		return nil, err
	}
	if cfg.Backup.S3.SecretKey == "" {
		return raw, nil
	}
	cfg.Backup.S3.SecretKey = ""
	return encodeConfig(cfg, fmt.Sprintf("backup.s3.secret_key was removed from this backup copy: supply it with %s.", s3SecretEnv))
}

// restoredConfig returns the check restore server applies to the
// configuration snapshot read back from the repository at repoLoc, which
// is untrusted: unknown keys or invalid values refuse the restore; a
// secret (snapshots from before secrets were removed) is dropped; a path
// that leads out of the data directory dir is reset to its default; the
// repository becomes repoLoc (restore server then writes the password file of
// an encrypted one inside dir). Each change is appended to notes.
func restoredConfig(dir, repoLoc string, notes *[]string) func([]byte) ([]byte, error) {
	return func(raw []byte) ([]byte, error) {
		cfg, err := parseConfig(raw, "the configuration snapshot")
		if err != nil {
			return nil, err
		}
		def := defaultConfig()
		note := func(format string, a ...any) { *notes = append(*notes, fmt.Sprintf(format, a...)) }
		if cfg.Backup.S3.SecretKey != "" {
			cfg.Backup.S3.SecretKey = ""
			note("the configuration snapshot held backup.s3.secret_key: not copied; supply it with %s", s3SecretEnv)
		}
		if v := cfg.Storage.PrimaryVolume; v == "" || v == "." || v == ".." || strings.ContainsAny(v, `/\`) {
			cfg.Storage.PrimaryVolume = def.Storage.PrimaryVolume
			note("storage.primary_volume %q is not a directory name under volumes/: reset to %q", v, def.Storage.PrimaryVolume)
		}
		for _, p := range []struct {
			key      string
			val      *string
			fallback string
		}{
			{"imap.cert", &cfg.IMAP.Cert, def.IMAP.Cert},
			{"imap.key", &cfg.IMAP.Key, def.IMAP.Key},
		} {
			if !insideDir(dir, *p.val) {
				note("%s %q leads out of the data directory: reset to %q", p.key, *p.val, p.fallback)
				*p.val = p.fallback
			}
		}
		if f := cfg.Backup.PasswordFile; f != "" && !insideDir(dir, f) {
			cfg.Backup.PasswordFile = ""
			note("backup.password_file %q leads out of the data directory: removed", f)
		}
		if cfg.Backup.Repository != repoLoc {
			cfg.Backup.Repository = repoLoc
		}
		return encodeConfig(cfg, *notes...)
	}
}

// insideDir reports whether the config path p, resolved against dir, names
// something strictly inside dir.
func insideDir(dir, p string) bool {
	if p == "" || strings.Contains(p, "://") {
		return false
	}
	rel, err := filepath.Rel(dir, resolve(dir, p))
	if err != nil {
		return false
	}
	return rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// refuseSecretFlag is the error for --s3-secret-key: a secret on the
// command line is visible to every local user (ps, /proc).
func refuseSecretFlag() error {
	return usagef("--s3-secret-key is not accepted: a secret on the command line is visible to every local user; set %s, or %s to a file holding it", s3SecretEnv, s3SecretFileEnv)
}
