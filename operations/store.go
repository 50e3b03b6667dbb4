package operations

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// store keeps one file per operation in a directory it holds a lock on.
type store struct {
	dir  string
	lock *os.File
}

const (
	lockName   = "LOCK"
	fileSuffix = ".json"
	tempSuffix = ".tmp"
)

// openStore creates dir (0700) if needed, takes its lock and removes
// temporary files a crash left.
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("operations: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("operations: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("operations: lock %s: %w", dir, err)
	}
	s := &store{dir: dir, lock: f}
	names, err := s.names()
	if err != nil {
		s.close()
		return nil, err
	}
	for _, n := range names {
		if strings.HasSuffix(n, tempSuffix) {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
	return s, nil
}

func (s *store) close() error { return s.lock.Close() }

func (s *store) names() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("operations: %w", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

func (s *store) path(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", id, fileSuffix))
}

// load reads every operation, in id order. Files that do not parse are
// renamed aside and returned as problems.
func (s *store) load() (ops []Operation, problems []error, err error) {
	names, err := s.names()
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		stem, ok := strings.CutSuffix(n, fileSuffix)
		if !ok {
			continue
		}
		id, perr := strconv.ParseUint(stem, 10, 64)
		p := filepath.Join(s.dir, n)
		raw, rerr := os.ReadFile(p)
		var op Operation
		if perr == nil && rerr == nil {
			rerr = json.Unmarshal(raw, &op)
		}
		if perr != nil || rerr != nil || op.ID != id {
			if rerr == nil {
				rerr = fmt.Errorf("name does not match id %d", op.ID)
			}
			problems = append(problems, fmt.Errorf("operations: %s does not parse (%v); renamed to %s.corrupt", n, rerr, n))
			_ = os.Rename(p, p+".corrupt")
			continue
		}
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].ID < ops[j].ID })
	return ops, problems, nil
}

// save writes op atomically: temporary file, fsync, rename, fsync of the
// directory.
func (s *store) save(op Operation) error {
	raw, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("operations: encode %d: %w", op.ID, err)
	}
	return writeFileAtomic(s.path(op.ID), raw)
}

func (s *store) remove(id uint64) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("operations: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path durably, mode 0600.
func writeFileAtomic(path string, data []byte) (err error) {
	tmp := path + tempSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("operations: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("operations: write %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("operations: %w", err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("operations: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("operations: sync %s: %w", filepath.Dir(path), err)
	}
	return nil
}

// ReadDir reads the operations kept in dir without changing anything, for
// a process that only looks, whether or not another (a server, a command
// running an operation) has dir open. Each file is read whole (files are
// replaced atomically); unreadable ones are skipped. When no process has
// dir open, operations left queued or running by one that stopped are
// returned as interrupted, as the next Open will mark (and notify) them.
func ReadDir(dir string) ([]Operation, error) {
	ops, err := readDir(dir)
	if err != nil || len(ops) == 0 {
		return ops, err
	}
	f, err := os.Open(filepath.Join(dir, lockName))
	switch {
	case errors.Is(err, os.ErrNotExist): // never opened here: nobody holds it
	case err != nil:
		return ops, nil
	default:
		defer f.Close()
		if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil {
			return ops, nil // held: what the files say is current
		}
		defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	}
	for i, op := range ops {
		if !op.State.Ended() {
			ops[i].Error = fmt.Sprintf("the process that ran the operations stopped while it was %s; resubmit it to run it again", op.State)
			ops[i].State = Interrupted
		}
	}
	return ops, nil
}

func readDir(dir string) ([]Operation, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("operations: %w", err)
	}
	var ops []Operation
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), fileSuffix) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		var op Operation
		if err != nil || json.Unmarshal(raw, &op) != nil {
			continue
		}
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].ID < ops[j].ID })
	return ops, nil
}
