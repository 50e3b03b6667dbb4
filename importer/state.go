package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/internal/vfsutil"
)

// stateVersion is the version of the state file format; a file of another
// version is refused rather than misread.
const stateVersion = 1

// state is the import state of one (account, source) pair; see doc.go.
type state struct {
	Version int                     `json:"version"`
	Source  string                  `json:"source"`
	Account uint64                  `json:"account"`
	Folders map[string]*folderState `json:"folders"`
}

// folderState is one source folder's cursor and the target folder it was
// imported into.
type folderState struct {
	Cursor Cursor `json:"cursor"`
	// TargetValidity is the UIDVALIDITY of the tidemark folder; a folder
	// deleted and created again has another, and the base no longer holds.
	TargetValidity uint32 `json:"target_validity"`
	// TargetBase is the tidemark folder's UIDNEXT when Cursor was saved:
	// every item this source put there before that save has a lower UID.
	TargetBase uint32 `json:"target_base"`
}

// stateStore reads and writes state files in one directory.
type stateStore struct {
	dir string
}

// stateFile names the state of account acct for source key: a hash, so a
// path or a user name never becomes part of a file name.
func (s stateStore) stateFile(acct uint64, key string) string {
	h := sha256.Sum256([]byte(strconv.FormatUint(acct, 10) + "\x00" + key))
	return filepath.Join(s.dir, hex.EncodeToString(h[:12])+".json")
}

// load returns the saved state, or a fresh one when there is none.
func (s stateStore) load(acct uint64, key string) (*state, error) {
	fresh := &state{Version: stateVersion, Source: key, Account: acct, Folders: map[string]*folderState{}}
	if s.dir == "" {
		return fresh, nil
	}
	path := s.stateFile(acct, key)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fresh, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read import state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("import state %s: %w (move it away to compare the whole folder instead)", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("import state %s: version %d, this tidemark reads version %d", path, st.Version, stateVersion)
	}
	if st.Source != key || st.Account != acct {
		return nil, fmt.Errorf("import state %s belongs to account %d, source %q", path, st.Account, st.Source)
	}
	if st.Folders == nil {
		st.Folders = map[string]*folderState{}
	}
	return &st, nil
}

// save writes st durably: a private temporary file, fsync, rename over the
// old state, fsync of the directory. A crash leaves the old or the new
// state, never a mix.
func (s stateStore) save(st *state) error {
	if s.dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("import state directory: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	path := s.stateFile(st.Account, st.Source)
	f, err := os.CreateTemp(s.dir, filepath.Base(path)+".*"+vfsutil.TempSuffix)
	if err != nil {
		return fmt.Errorf("save import state: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("save import state: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("save import state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save import state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save import state: %w", err)
	}
	ok = true
	return vfsutil.SyncDir(vfs.Default, s.dir)
}
