package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/hsm"
)

// passwordEnv is the environment variable that holds the repository
// password, for scripts and service managers.
const passwordEnv = "TIDEMARK_BACKUP_PASSWORD"

// maxPasswordFile bounds a password or key file.
const maxPasswordFile = 4096

// repoPassword is where a repository password comes from, in order: a
// --password-file flag, TIDEMARK_BACKUP_PASSWORD, [backup] password_file
// (relative to the data directory), and a prompt when standard input is a
// terminal and the repository turns out to be encrypted. Never a flag
// holding the password itself: it would be visible in ps.
type repoPassword struct {
	flagFile string // --password-file
	dataDir  string
	cfgFile  string // [backup] password_file
	noPrompt bool   // a server or a job: never ask
}

// password returns the configured password, or nil when none is
// configured (no prompt).
func (p repoPassword) password() ([]byte, error) {
	if p.flagFile != "" {
		return readPasswordFile(p.flagFile)
	}
	if v, ok := os.LookupEnv(passwordEnv); ok && v != "" {
		return []byte(v), nil
	}
	if p.cfgFile != "" {
		return readPasswordFile(resolve(p.dataDir, p.cfgFile))
	}
	return nil, nil
}

// source names where password() takes the password from, for messages.
func (p repoPassword) source() string {
	switch {
	case p.flagFile != "":
		return "the password file " + p.flagFile
	case os.Getenv(passwordEnv) != "":
		return "$" + passwordEnv
	case p.cfgFile != "":
		return "the password file " + resolve(p.dataDir, p.cfgFile) + " ([backup] password_file)"
	}
	return "no configured password"
}

// readPasswordFile reads a password or key file: its bytes without the
// trailing newline, which editors add.
func readPasswordFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("backup password file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return nil, fmt.Errorf("backup password file %s: %w", path, err)
	}
	if len(b) > maxPasswordFile {
		return nil, fmt.Errorf("backup password file %s: longer than %d bytes", path, maxPasswordFile)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("backup password file %s is empty", path)
	}
	return b, nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// promptPassword asks for a password on the terminal without echo.
func promptPassword(prompt string) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, errors.New("no password configured and standard input is not a terminal")
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(os.Stderr, prompt)
	line, err := bufio.NewReader(os.Stdin).ReadBytes('\n')
	fmt.Fprintln(os.Stderr)
	if err != nil && len(line) == 0 {
		return nil, fmt.Errorf("read password: %w", err)
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil, errors.New("empty password")
	}
	return line, nil
}

// openRepo opens the repository on vol with the password p names: a
// password file (configured or given) requires an encrypted repository (a
// manifest edited to say otherwise is refused); without any password, an
// encrypted repository asks on the terminal. With create, a missing
// repository is made, encrypted when there is a password.
func openRepo(ctx context.Context, vol hsm.Volume, p repoPassword, create bool) (*repository.Repository, error) {
	r, _, err := openRepoPassword(ctx, vol, p, create)
	return r, err
}

// openRepoPassword is openRepo that also returns the password that opened
// an encrypted repository.
func openRepoPassword(ctx context.Context, vol hsm.Volume, p repoPassword, create bool) (*repository.Repository, []byte, error) {
	pw, err := p.password()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	// A password file named in the configuration or on the command line
	// says the repository is encrypted; the environment variable alone
	// does not (it may be set for every repository a script touches).
	opts := &repository.OpenOptions{Password: pw, RequireEncrypted: p.cfgFile != "" || p.flagFile != "", Host: host}
	open := func() (*repository.Repository, error) {
		if create {
			return repository.InitWith(ctx, vol, time.Now(), opts)
		}
		return repository.OpenWith(ctx, vol, opts)
	}
	r, err := open()
	if errors.Is(err, repository.ErrLocked) && pw == nil && !p.noPrompt && isTerminal(os.Stdin) {
		if opts.Password, err = promptPassword("backup repository password: "); err != nil {
			return nil, nil, err
		}
		opts.RequireEncrypted = true
		r, err = open()
	}
	if errors.Is(err, repository.ErrLocked) && pw == nil {
		err = fmt.Errorf("%w (set [backup] password_file, %s, or run on a terminal)", err, passwordEnv)
	}
	if err != nil || !r.Encrypted() {
		return r, nil, err
	}
	return r, opts.Password, nil
}

// defaultPasswordFile is the password file init and restore server write
// in a data directory, named by [backup] password_file.
const defaultPasswordFile = "backup-password"

// writePasswordFile stores pw as dataDir's repository password file
// (private) and returns its name relative to dataDir.
func writePasswordFile(dataDir string, pw []byte) (string, error) {
	path := filepath.Join(dataDir, defaultPasswordFile)
	if err := os.WriteFile(path, append(bytes.Clone(pw), '\n'), 0o600); err != nil {
		return "", fmt.Errorf("write backup password file: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return "", err
	}
	return defaultPasswordFile, nil
}
