package backuptest

import (
	"context"

	"github.com/tidemark/tidemark/backup/internal/tune"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/hsm"
)

// SetDictSample makes repositories train their dictionary after n blobs
// and returns a function restoring the default; for tests of the backup packages.
func SetDictSample(n int) (restore func()) {
	old := tune.DictSampleBlobs
	tune.DictSampleBlobs = n
	return func() { tune.DictSampleBlobs = old }
}

// SetNewFormat makes InitRepository create repositories of format f (1:
// loose blobs only) and returns a function restoring the default.
func SetNewFormat(f int) (restore func()) {
	old := tune.NewFormat
	tune.NewFormat = f
	return func() { tune.NewFormat = old }
}

// SetPackSizes sets the chunk size and the size from which blobs stay
// loose, and returns a function restoring the defaults.
func SetPackSizes(chunkRaw, looseMin int) (restore func()) {
	oc, ol := tune.PackChunkRaw, tune.PackLooseMin
	tune.PackChunkRaw, tune.PackLooseMin = chunkRaw, looseMin
	return func() { tune.PackChunkRaw, tune.PackLooseMin = oc, ol }
}

// MustOpenForTest opens the repository on vol afresh (no cached index).
func MustOpenForTest(t interface {
	Helper()
	Fatal(...any)
}, vol hsm.Volume) *repository.Repository {
	t.Helper()
	r, err := repository.Open(context.Background(), vol)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// SetPackTarget sets the stored size at which a pack is written (and
// below half of which maintenance merges packs), and returns a function
// restoring the previous value.
func SetPackTarget(n int) (restore func()) {
	old := tune.PackTargetBytes
	tune.PackTargetBytes = n
	return func() { tune.PackTargetBytes = old }
}
