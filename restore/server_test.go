package restore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
)

// drill runs a workload on a server backed up to repoVol, destroys its
// data directory, rebuilds it with Server and compares the state digest
// and, at a point in the middle, the oracle.
func drill(t *testing.T, repoVol hsm.Volume) {
	dir := t.TempDir()
	r := newRig(t, vfs.Default, dir, repoVol)
	h := &history{R: r, Rnd: rand.New(rand.NewPCG(5, 5))}
	h.Run("src@example.org", 120, false)
	if _, err := r.Eng.CreateAccount(ctx, engine.AccountSpec{Address: "bob@example.org", Password: "bobpw"}); err != nil {
		t.Fatal(err)
	}
	r.Sync()
	want, err := r.Eng.StateDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := r.Eng.LogLastLSN()
	r.Close()
	if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Open(ctx, repoVol)
	if err != nil {
		t.Fatal(err)
	}
	newDir := filepath.Join(dir, "new")
	rep, err := Server(ctx, repo, newDir, &ServerOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Digest != want || rep.LastLSN != last || len(rep.Unrestored) != 0 || rep.Renumbered {
		t.Fatalf("restored %+v, want digest %s at lsn %d", rep, want, last)
	}
	if _, err := Server(ctx, repo, newDir, &ServerOptions{Logger: quiet}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("second restore into the same directory: %v", err)
	}
	eng, err := engine.Open(newDir, &engine.Options{Logger: quiet, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Authenticate(ctx, "bob@example.org", "bobpw"); err != nil {
		t.Fatalf("login on the restored server: %v", err)
	}
	if d := diff(h.Snaps[len(h.Snaps)-1].Box, dump(t, eng, h.Acct)); d != "" {
		t.Fatal(d)
	}
	eng.Close()
	// As of a time in the middle of the history.
	mid := h.Snaps[len(h.Snaps)/2]
	midDir := filepath.Join(dir, "mid")
	if _, err := Server(ctx, repo, midDir, &ServerOptions{Logger: quiet, At: mid.At}); err != nil {
		t.Fatal(err)
	}
	eng, err = engine.Open(midDir, &engine.Options{Logger: quiet, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if d := diff(mid.Box, dump(t, eng, h.Acct)); d != "" {
		t.Fatalf("server as of %s: %s", mid.At.Format(time.RFC3339Nano), d)
	}
}

func TestDisasterDrillLocal(t *testing.T) {
	vol, err := localvol.New(vfs.Default, filepath.Join(t.TempDir(), "repo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	drill(t, vol)
}

func TestDisasterDrillS3(t *testing.T) {
	srv := s3test.StartServer(t)
	o := srv.Options()
	o.Prefix = "tidemark/server1"
	vol, err := s3vol.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	drill(t, vol)
}

// TestRepositoryCopiedWhileWritten copies a local repository with cp -r
// while the scanner ships to it, and rebuilds a server from the copy.
func TestRepositoryCopiedWhileWritten(t *testing.T) {
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	vol, err := localvol.New(vfs.Default, repoDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, vfs.Default, dir, vol)
	h := &history{R: r, Rnd: rand.New(rand.NewPCG(8, 8))}
	h.Run("src@example.org", 60, false)
	copyDone := make(chan error, 1)
	go func() {
		out, err := exec.Command("cp", "-r", repoDir, filepath.Join(dir, "copy")).CombinedOutput()
		// cp reports files that vanished between its listing and its read:
		// the volume's temporary files, renamed into place meanwhile. That is
		// what a copy of a live repository looks like; whether the copy is
		// restorable is what this test checks.
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" && !strings.Contains(line, "No such file or directory") {
				copyDone <- fmt.Errorf("cp: %v: %s", err, out)
				return
			}
		}
		if err != nil {
			t.Logf("cp: %v (files vanished while copying):\n%s", err, out)
		}
		copyDone <- nil
	}()
	for i := 0; i < 40; i++ {
		h.Step("deliver", func() error {
			_, err := r.Eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{h.Acct}, Body: h.Body(1000 + i)})
			return err
		})
	}
	if err := <-copyDone; err != nil {
		t.Fatal(err)
	}
	r.Sync()
	cvol, err := localvol.New(vfs.Default, filepath.Join(dir, "copy"), nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Open(ctx, cvol)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Server(ctx, repo, filepath.Join(dir, "new"), &ServerOptions{Logger: quiet})
	// The copy may hold segments whose blobs it lacks: the restore then
	// stops at the newest consistent point and says so.
	switch {
	case rep.CutReason != "" && !errors.Is(err, ErrIncomplete):
		t.Fatalf("restore cut at lsn %d (%s) returned %v, want ErrIncomplete", rep.CutLSN, rep.CutReason, err)
	case rep.CutReason != "" && !strings.Contains(err.Error(), fmt.Sprintf("stopped at lsn %d ", rep.LastLSN)):
		t.Fatalf("restore cut does not say where it stopped: %v", err)
	case rep.CutReason == "" && err != nil:
		t.Fatal(err)
	}
	eng, err := engine.Open(filepath.Join(dir, "new"), &engine.Options{Logger: quiet, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	want, ok := h.At(rep.LastTime)
	if !ok {
		t.Fatalf("copy holds no account (%+v)", rep)
	}
	if d := diff(want, dump(t, eng, h.Acct)); d != "" {
		t.Fatalf("copy up to lsn %d: %s", rep.LastLSN, d)
	}
	t.Logf("copy held %d of %d records", rep.LastLSN, r.Eng.LogLastLSN())
}
