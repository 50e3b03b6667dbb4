package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// checkListen checks a listen address ("host:port", "[::1]:port") without
// binding it.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: bad host %q", addr, host)
	}
	return nil
}

// createdPaths are what a first start created: removed again when it
// fails before serving.
type createdPaths struct {
	dataDir      string
	dataExisted  bool // the directory was there (empty) before
	repo         string
	repoExisted  bool
	repoIsRemote bool
}

// firstStart initialises dataDir for a first serve, noting what did not
// exist before so that remove can take it back.
func firstStart(dataDir string, out io.Writer) (createdPaths, error) {
	cp := createdPaths{dataDir: dataDir}
	if entries, err := os.ReadDir(dataDir); err == nil {
		if len(entries) > 0 {
			// Something is there but no configuration: leave it to
			// init, which refuses or completes it; never remove it.
			return createdPaths{}, runInit(dataDir, out)
		}
		cp.dataExisted = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return createdPaths{}, fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	repo := defaultConfig().Backup.Repository
	if strings.Contains(repo, "://") {
		cp.repoIsRemote = true
	} else {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return createdPaths{}, err
		}
		cp.repo = resolve(abs, repo)
		if _, err := os.Lstat(cp.repo); err == nil {
			cp.repoExisted = true
		}
	}
	if err := runInit(dataDir, out); err != nil {
		cp.remove(nil)
		return createdPaths{}, err
	}
	return cp, nil
}

// remove deletes what the first start created. A zero createdPaths (the
// directory held something already) removes nothing.
func (cp createdPaths) remove(log *slog.Logger) {
	if cp.dataDir == "" {
		return
	}
	var removed []string
	if cp.dataExisted {
		entries, _ := os.ReadDir(cp.dataDir)
		for _, e := range entries {
			if os.RemoveAll(filepath.Join(cp.dataDir, e.Name())) == nil {
				removed = append(removed, filepath.Join(cp.dataDir, e.Name()))
			}
		}
	} else if os.RemoveAll(cp.dataDir) == nil {
		removed = append(removed, cp.dataDir)
	}
	if !cp.repoIsRemote && cp.repo != "" && !cp.repoExisted {
		if _, err := os.Lstat(cp.repo); err == nil && os.RemoveAll(cp.repo) == nil {
			removed = append(removed, cp.repo)
		}
	}
	if log != nil && len(removed) > 0 {
		log.Warn("the first start failed: removed what it had created, so the next start begins afresh", "removed", strings.Join(removed, ", "))
	}
}
