// Command restorebench measures restore speed on the realistic corpus:
// restore of one account holding every message into a new account
// (restore.Restorer.Account, the path of "tidemark restore account --into")
// against "restic restore" of the same messages backed up as a maildir, in
// the same run, and the throughput of a whole-server restore
// (restore.Server, "tidemark restore server").
//
//	go run ./bench/restore [-corpus DIR] [-rounds 3] [-restic restic] [-work DIR]
package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/klauspost/compress/zstd"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/restore"
)

var (
	corpus  = flag.String("corpus", "../shared/corpus/realistic", "directory of *.tar.zst message archives")
	rounds  = flag.Int("rounds", 3, "timed rounds of each restore")
	resticB = flag.String("restic", "restic", "restic binary (empty: skip restic)")
	work    = flag.String("work", "", "work directory (default: a temp dir, removed after)")
	conc    = flag.Int("concurrency", 0, "restore.Options.Concurrency (0: default)")
	encrypt = flag.Bool("encrypt", false, "encrypted repository (format 3, hsm/cryptvol; default Argon2id key)")
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "restorebench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	msgs, err := loadCorpus(*corpus)
	if err != nil {
		return err
	}
	var raw int64
	for _, m := range msgs {
		raw += int64(len(m))
	}
	fmt.Printf("corpus: %d messages, %.1f MB\n", len(msgs), float64(raw)/1e6)
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "restorebench"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	s, err := build(ctx, dir, msgs)
	if err != nil {
		return err
	}
	defer s.close()
	var resticRepo string
	if *resticB != "" {
		if resticRepo, err = resticSetup(dir, msgs); err != nil {
			return err
		}
	}
	var ours, theirs, server []time.Duration
	for r := 0; r < *rounds; r++ {
		t0 := time.Now()
		rs := restore.New(s.eng, s.cat, s.repo, &restore.Options{Logger: quiet, Concurrency: *conc})
		rep, err := rs.Account(ctx, s.acct, restore.Latest, fmt.Sprintf("copy%d@bench.example", r), restore.AccountOptions{})
		if err != nil {
			return err
		}
		d := time.Since(t0)
		if rep.Restored != len(msgs) {
			return fmt.Errorf("restored %d of %d: %s", rep.Restored, len(msgs), rep)
		}
		ours = append(ours, d)
		fmt.Printf("round %d: tidemark restore account %v (%.1f MB/s, %.0f msg/s)\n", r, d.Round(time.Millisecond),
			float64(raw)/1e6/d.Seconds(), float64(len(msgs))/d.Seconds())
		if resticRepo != "" {
			target := filepath.Join(dir, fmt.Sprintf("restic-restore-%d", r))
			t0 = time.Now()
			if err := restic(resticRepo, "restore", "latest", "--target", target); err != nil {
				return err
			}
			d := time.Since(t0)
			theirs = append(theirs, d)
			fmt.Printf("round %d: restic restore %v (%.1f MB/s)\n", r, d.Round(time.Millisecond), float64(raw)/1e6/d.Seconds())
			os.RemoveAll(target)
		}
		newDir := filepath.Join(dir, fmt.Sprintf("server-%d", r))
		t0 = time.Now()
		srep, err := restore.Server(ctx, s.repo, newDir, &restore.ServerOptions{Logger: quiet})
		if err != nil {
			return err
		}
		d = time.Since(t0)
		server = append(server, d)
		fmt.Printf("round %d: restore server %v: %d records, %d blobs, %.1f MB raw (%.1f MB/s)\n", r, d.Round(time.Millisecond),
			srep.Records, srep.Blobs, float64(srep.BlobBytes)/1e6, float64(srep.BlobBytes)/1e6/d.Seconds())
		os.RemoveAll(newDir)
	}
	mo := median(ours)
	fmt.Printf("median: tidemark restore account %v (%.1f MB/s)", mo.Round(time.Millisecond), float64(raw)/1e6/mo.Seconds())
	if len(theirs) > 0 {
		mt := median(theirs)
		fmt.Printf(", restic restore %v (%.1f MB/s), ratio %.2fx", mt.Round(time.Millisecond), float64(raw)/1e6/mt.Seconds(), mt.Seconds()/mo.Seconds())
	}
	ms := median(server)
	fmt.Printf(", restore server %v\n", ms.Round(time.Millisecond))
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// setup is a source server: an engine whose one account holds the corpus
// in INBOX, backed up by the scanner to a local repository.
type setup struct {
	eng  *engine.Engine
	repo *repository.Repository
	cat  *catalog.Catalog
	acct uint64
	stop func()
}

func (s *setup) close() {
	s.stop()
	s.cat.Close()
	s.eng.Close()
}

type primaryBlobs struct{ eng *engine.Engine }

func (p primaryBlobs) OpenBlob(ctx context.Context, ref repository.BlobRef) (io.ReadCloser, error) {
	rc, _, err := p.eng.OpenBlob(ctx, ref.Account, ref.Item)
	if err == nil {
		return rc, nil
	}
	return p.eng.OpenPrimaryBlob(ctx, ref.Digest)
}

func build(ctx context.Context, dir string, msgs [][]byte) (*setup, error) {
	var sc atomic.Pointer[scanner.Scanner]
	eng, err := engine.Open(filepath.Join(dir, "data"), &engine.Options{Logger: quiet, SafeLSN: func() uint64 {
		if s := sc.Load(); s != nil {
			return s.SafeLSN()
		}
		return 0
	}})
	if err != nil {
		return nil, err
	}
	vol, err := localvol.New(vfs.Default, filepath.Join(dir, "repo"), nil)
	if err != nil {
		return nil, err
	}
	repo, err := repository.InitWith(ctx, vol, time.Now(), repoOptions())
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Open(filepath.Join(dir, "data", "backup-catalog"), nil)
	if err != nil {
		return nil, err
	}
	scn, err := scanner.New(repo, cat, enginesrc.New(eng), primaryBlobs{eng}, nil,
		&scanner.Options{Logger: quiet, SnapshotInterval: -1, NoCompaction: true})
	if err != nil {
		return nil, err
	}
	sc.Store(scn)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = scn.Run(rctx); close(done) }()
	s := &setup{eng: eng, repo: repo, cat: cat, stop: func() { cancel(); <-done }}
	if err := eng.CreateDomain(ctx, "bench.example"); err != nil {
		return nil, err
	}
	a, err := eng.CreateAccount(ctx, engine.AccountSpec{Address: "all@bench.example", Password: "x"})
	if err != nil {
		return nil, err
	}
	s.acct = a.ID
	t0 := time.Now()
	base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(msgs) {
					return
				}
				res, err := eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: msgs[i],
					Flags: []string{`\Seen`}, InternalDate: base.Add(time.Duration(i) * time.Minute)})
				if err == nil {
					err = res[0].Err
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	want := eng.LogLastLSN()
	for {
		lsn, _, err := cat.Position()
		if err != nil {
			return nil, err
		}
		if lsn >= want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("source: delivered and backed up in %v\n", time.Since(t0).Round(time.Millisecond))
	return s, nil
}

// resticSetup writes the messages as a maildir and backs it up into a new
// restic repository (zstd, repository format 2).
func resticSetup(dir string, msgs [][]byte) (string, error) {
	md := filepath.Join(dir, "maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o755); err != nil {
			return "", err
		}
	}
	for i, m := range msgs {
		if err := os.WriteFile(filepath.Join(md, "cur", fmt.Sprintf("%d.%d.bench:2,S", 1609459200+i*60, i)), m, 0o644); err != nil {
			return "", err
		}
	}
	repo := filepath.Join(dir, "restic-repo")
	if err := restic(repo, "init", "--repository-version", "2"); err != nil {
		return "", err
	}
	t0 := time.Now()
	if err := restic(repo, "backup", "--compression", "auto", md); err != nil {
		return "", err
	}
	fmt.Printf("restic: maildir backed up in %v\n", time.Since(t0).Round(time.Millisecond))
	return repo, nil
}

func restic(repo string, args ...string) error {
	cmd := exec.Command(*resticB, append([]string{"-r", repo, "--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD=bench", "RESTIC_CACHE_DIR="+filepath.Join(filepath.Dir(repo), "restic-cache"))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("restic %v: %w", args, err)
	}
	return nil
}

// loadCorpus reads every regular file of every archive.
func loadCorpus(dir string) ([][]byte, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tar.zst"))
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.tar.zst in %s", dir)
	}
	var out [][]byte
	for _, f := range files {
		if err := readArchive(f, func(b []byte) { out = append(out, b) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readArchive(path string, fn func([]byte)) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	zr, err := zstd.NewReader(fh)
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		fn(b)
	}
}

// repoOptions makes the repository encrypted with -encrypt.
func repoOptions() *repository.OpenOptions {
	if !*encrypt {
		return nil
	}
	return &repository.OpenOptions{Password: []byte("bench password")}
}
