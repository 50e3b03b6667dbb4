// Command backupbench measures the backup scanner: lag from commit to
// durable in the repository at a steady delivery rate (local directory or
// versitygw), and the first full backup of the realistic corpus against
// restic backing up the same messages as a maildir (size and time).
//
//	go run ./bench/backup -mode lag  -rate 200 -duration 30s [-s3 /path/to/versitygw]
//	go run ./bench/backup -mode full [-restic restic]
package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/klauspost/compress/zstd"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/enginesrc"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
)

var (
	mode      = flag.String("mode", "lag", "lag or full")
	corpus    = flag.String("corpus", "../shared/corpus/realistic", "directory of *.tar.zst message archives")
	rate      = flag.Int("rate", 200, "messages per second (lag)")
	duration  = flag.Duration("duration", 30*time.Second, "length of the steady load (lag)")
	s3bin     = flag.String("s3", "", "path of versitygw: ship to it instead of a local directory")
	ship      = flag.Duration("ship", 0, "scanner ship interval (0: default for the target)")
	resticB   = flag.String("restic", "restic", "restic binary (full)")
	accounts  = flag.Int("accounts", 20, "accounts the messages are spread over")
	noCompact = flag.Bool("nocompact", false, "run without background compaction")
	work      = flag.String("work", "", "work directory (default: a temp dir, removed after)")
	cpuprof   = flag.String("cpuprofile", "", "write a CPU profile of tidemark's full backup here (full)")
	norestic  = flag.Bool("norestic", false, "skip restic (full)")
	uploads   = flag.Int("uploads", 0, "blob uploads in flight (0: scanner default)")
	encrypt   = flag.Bool("encrypt", false, "encrypted repository (format 3, hsm/cryptvol; default Argon2id key)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "backupbench:", err)
		os.Exit(1)
	}
}

func run() error {
	msgs, err := loadCorpus(*corpus)
	if err != nil {
		return err
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "backupbench"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	var raw int64
	for _, m := range msgs {
		raw += int64(len(m))
	}
	fmt.Printf("corpus: %d messages, %d bytes\n", len(msgs), raw)
	switch *mode {
	case "lag":
		return lag(dir, msgs)
	case "full":
		return full(dir, msgs, raw)
	}
	return fmt.Errorf("unknown mode %q", *mode)
}

// loadCorpus reads every message of every archive.
func loadCorpus(dir string) ([][]byte, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tar.zst"))
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.tar.zst in %s", dir)
	}
	var out [][]byte
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		zr, err := zstd.NewReader(fh)
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if h.Typeflag != tar.TypeReg || h.Size == 0 {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		zr.Close()
		fh.Close()
	}
	return out, nil
}

type setup struct {
	eng   *engine.Engine
	repo  *repository.Repository
	cat   *catalog.Catalog
	sc    *scanner.Scanner
	accts []uint64
	stop  func()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open makes an engine with accounts in dir/data; startScanner attaches a
// scanner shipping to vol.
func open(dir string) (*setup, error) {
	s := &setup{}
	var safe func() uint64
	eng, err := engine.Open(filepath.Join(dir, "data"), &engine.Options{Logger: quiet, SafeLSN: func() uint64 {
		if safe == nil {
			return 0
		}
		return safe()
	}})
	if err != nil {
		return nil, err
	}
	s.eng = eng
	ctx := context.Background()
	if err := eng.CreateDomain(ctx, "bench.example"); err != nil {
		return nil, err
	}
	for i := 0; i < *accounts; i++ {
		a, err := eng.CreateAccount(ctx, engine.AccountSpec{Address: fmt.Sprintf("user%d@bench.example", i), Password: "x"})
		if err != nil {
			return nil, err
		}
		s.accts = append(s.accts, a.ID)
	}
	s.stop = func() {}
	_ = safe
	return s, nil
}

func (s *setup) startScanner(dir string, vol hsm.Volume, shipEvery time.Duration) error {
	ctx := context.Background()
	repo, err := repository.InitWith(ctx, vol, time.Now(), repoOptions())
	if err != nil {
		return err
	}
	cat, err := catalog.Open(filepath.Join(dir, "data", "backup-catalog"), nil)
	if err != nil {
		return err
	}
	src := engineSource{s.eng}
	sc, err := scanner.New(repo, cat, enginesrc.New(s.eng), src, src, &scanner.Options{Logger: quiet, ShipInterval: shipEvery, SnapshotInterval: -1, NoCompaction: *noCompact, Uploads: *uploads})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = sc.Run(rctx); close(done) }()
	s.repo, s.cat, s.sc = repo, cat, sc
	s.stop = func() { cancel(); <-done; cat.Close() }
	return nil
}

func localVolume(dir string) (hsm.Volume, error) {
	return localvol.New(vfs.Default, filepath.Join(dir, "repo"), nil)
}

// startVersity runs versitygw on a free loopback port and returns a volume
// on it and a stop function.
func startVersity(dir string) (hsm.Volume, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := l.Addr().String()
	l.Close()
	root, meta := filepath.Join(dir, "s3data"), filepath.Join(dir, "s3meta")
	os.MkdirAll(root, 0o755)
	os.MkdirAll(meta, 0o755)
	cmd := exec.Command(*s3bin, "--access", "bench", "--secret", "benchsecret", "--region", "us-east-1",
		"--port", addr, "--quiet", "posix", "--sidecar", meta, root)
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			stop()
			return nil, nil, fmt.Errorf("versitygw does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	v, err := s3vol.New(context.Background(), s3vol.Options{Endpoint: addr, Bucket: "backup", Prefix: "server1",
		AccessKey: "bench", SecretKey: "benchsecret", CreateBucket: true})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return v, stop, nil
}

// lag delivers at a steady rate and measures commit → shipped per record.
func lag(dir string, msgs [][]byte) error {
	s, err := open(dir)
	if err != nil {
		return err
	}
	defer s.eng.Close()
	var vol hsm.Volume
	target, every := "local directory", 50*time.Millisecond
	if *s3bin != "" {
		v, stop, err := startVersity(dir)
		if err != nil {
			return err
		}
		defer stop()
		vol, target, every = v, "versitygw", 500*time.Millisecond
	} else if vol, err = localVolume(dir); err != nil {
		return err
	}
	if *ship > 0 {
		every = *ship
	}
	if err := s.startScanner(dir, vol, every); err != nil {
		return err
	}
	defer s.stop()
	var mu sync.Mutex
	committed := map[uint64]time.Time{}
	var lags []time.Duration
	stopPoll := make(chan struct{})
	pollDone := make(chan struct{})
	go func() { // watch the shipped LSN
		defer close(pollDone)
		var seen uint64
		for {
			select {
			case <-stopPoll:
				return
			default:
			}
			if sh := s.sc.Live().ShippedLSN; sh > seen {
				now := time.Now()
				mu.Lock()
				for l, t := range committed {
					if l <= sh {
						lags = append(lags, now.Sub(t))
						delete(committed, l)
					}
				}
				mu.Unlock()
				seen = sh
			}
			time.Sleep(500 * time.Microsecond)
		}
	}()
	ctx := context.Background()
	n := int(duration.Seconds() * float64(*rate))
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		<-tick.C
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := s.eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{s.accts[i%len(s.accts)]}, Body: msgs[i%len(msgs)]})
			if err != nil || res[0].Err != nil {
				fmt.Fprintln(os.Stderr, "deliver:", err)
				return
			}
			mu.Lock()
			committed[res[0].Item.ModSeq] = time.Now()
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	for i := 0; i < 1000; i++ {
		mu.Lock()
		left := len(committed)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stopPoll)
	<-pollDone
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if len(lags) == 0 {
		return errors.New("no record was shipped")
	}
	pct := func(p float64) time.Duration { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	fmt.Printf("lag to %s, %d msg/s for %s, ship interval %s: %d records, p50 %s, p90 %s, p99 %s, max %s\n",
		target, *rate, *duration, every, len(lags), pct(0.5).Round(time.Millisecond), pct(0.9).Round(time.Millisecond),
		pct(0.99).Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	return nil
}

// full fills an engine with the corpus, then times the first full backup
// and restic's backup of the same messages as a maildir.
func full(dir string, msgs [][]byte, raw int64) error {
	s, err := open(dir)
	if err != nil {
		return err
	}
	defer s.eng.Close()
	ctx := context.Background()
	maildir := filepath.Join(dir, "maildir")
	for i, m := range msgs {
		acct := s.accts[i%len(s.accts)]
		if _, err := s.eng.Deliver(ctx, engine.Delivery{Recipients: []uint64{acct}, Body: m}); err != nil {
			return err
		}
		p := filepath.Join(maildir, fmt.Sprintf("user%d", i%len(s.accts)), "cur", fmt.Sprintf("%d.%d.bench:2,S", 1700000000+i, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, m, 0o644); err != nil {
			return err
		}
	}
	exec.Command("sync").Run()
	vol, err := localVolume(dir)
	if err != nil {
		return err
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := s.startScanner(dir, vol, *ship); err != nil {
		return err
	}
	// Creating the repository includes, when encrypted, one Argon2id
	// derivation: a cost per open, not per byte, reported apart.
	opened := time.Since(start)
	want := s.eng.LogLastLSN()
	for s.sc.Live().ShippedLSN < want {
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	pprof.StopCPUProfile()
	s.stop()
	size := du(filepath.Join(dir, "repo"))
	objects := map[string]int{}
	filepath.Walk(filepath.Join(dir, "repo"), func(p string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(dir, "repo"), p)
			objects[strings.SplitN(rel, "/", 2)[0]]++
		}
		return nil
	})
	blobs := fmt.Sprintf("objects: %d packs, %d loose blobs, %d segments", objects["packs"], objects["blobs"], objects["log"])
	fmt.Printf("tidemark: first full backup of %d messages (%d bytes) in %s (%.1f MB/s, %.0f msg/s); repository %d bytes, %s\n",
		len(msgs), raw, took.Round(time.Millisecond), float64(raw)/took.Seconds()/1e6, float64(len(msgs))/took.Seconds(), size, blobs)
	fmt.Printf("tidemark: of which repository creation %s (encrypted %v); shipping alone %s\n",
		opened.Round(time.Millisecond), *encrypt, (took - opened).Round(time.Millisecond))

	if *norestic {
		return nil
	}
	rrepo := filepath.Join(dir, "restic-repo")
	env := append(os.Environ(), "RESTIC_PASSWORD=bench", "RESTIC_REPOSITORY="+rrepo)
	initCmd := exec.Command(*resticB, "init", "--repository-version", "2")
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		return fmt.Errorf("restic init: %v: %s", err, out)
	}
	start = time.Now()
	bk := exec.Command(*resticB, "backup", "--compression", "auto", "-q", maildir)
	bk.Env = env
	if out, err := bk.CombinedOutput(); err != nil {
		return fmt.Errorf("restic backup: %v: %s", err, out)
	}
	rtook := time.Since(start)
	rsize := du(rrepo)
	fmt.Printf("restic: backup of the same maildir in %s (%.1f MB/s); repository %d bytes\n",
		rtook.Round(time.Millisecond), float64(raw)/rtook.Seconds()/1e6, rsize)
	fmt.Printf("tidemark/restic: size %.2f×, speed %.2f×\n", float64(size)/float64(rsize), rtook.Seconds()/took.Seconds())
	return nil
}

// du sums file sizes under dir.
func du(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// engineSource is the scanner's view of the engine (as in cmd/tidemark).
type engineSource struct{ e *engine.Engine }

func (s engineSource) AppliedLSN() uint64 { return s.e.AppliedLSN() }

func (s engineSource) OpenBlob(ctx context.Context, ref repository.BlobRef) (io.ReadCloser, error) {
	return s.e.OpenPrimaryBlob(ctx, ref.Digest)
}

// The bench never runs a SmartScan; these satisfy scanner.Source.
func (s engineSource) ListCOS(ctx context.Context) ([]event.COS, error) { return s.e.ListCOS(ctx) }
func (s engineSource) ListAccounts(context.Context) ([]event.Account, error) {
	return nil, errors.New("not used")
}
func (s engineSource) ListFolders(context.Context, uint64) ([]repository.ScanFolder, error) {
	return nil, errors.New("not used")
}
func (s engineSource) ListItems(context.Context, uint64) ([]repository.ScanItem, error) {
	return nil, errors.New("not used")
}
func (s engineSource) SubscribedNames(context.Context, uint64) ([]string, error) {
	return nil, errors.New("not used")
}

// repoOptions makes the repository encrypted with -encrypt.
func repoOptions() *repository.OpenOptions {
	if !*encrypt {
		return nil
	}
	return &repository.OpenOptions{Password: []byte("bench password")}
}
