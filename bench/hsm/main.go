// Command hsmbench measures HSM moves and reads from S3, in one run: a
// move local→local (Engine.MoveVolume, one file per blob on both sides,
// copies verified, made durable a batch at a time and recorded) against
// `cp -r` of the same blob files followed by `sync`; a move local→S3
// (versitygw on loopback, through the server's S3 wrapping: call deadlines
// and the read cache; stores checked with Content-MD5) against a plain
// loop of s3vol Put (one minio-go PutObject per object) of the same
// objects; the deletion of the old copies after each move (checkpoints
// until none is left); and FETCH of a message on S3 through the engine,
// cold (the read cache emptied) and warm.
//
//	go run ./bench/hsm [-n 2000] [-size 20000] [-s3 $TIDEMARK_VERSITYGW]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/cachevol"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/volopen"
)

var (
	n      = flag.Int("n", 2000, "messages")
	size   = flag.Int("size", 20000, "mean message size in bytes")
	s3bin  = flag.String("s3", os.Getenv("TIDEMARK_VERSITYGW"), "path of versitygw")
	keep   = flag.Bool("keep", false, "keep the work directory")
	cpuOut = flag.String("cpuprofile", "", "write a CPU profile of the moves to this file")
	quiet  = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx    = context.Background()
	s3addr string
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hsmbench:", err)
		os.Exit(1)
	}
}

func opener(dir string) hsm.Opener {
	local := volopen.Local(volopen.Env{DataDir: dir, Logger: quiet})
	return func(ctx context.Context, s hsm.Spec) (hsm.Volume, error) {
		if s.Type != hsm.TypeS3 {
			return local(ctx, s)
		}
		v, err := s3vol.New(ctx, s3vol.Options{Endpoint: s.S3.Endpoint, Bucket: s.S3.Bucket, Prefix: s.S3.Prefix,
			AccessKey: "bench", SecretKey: "benchsecret"})
		if err != nil {
			return nil, err
		}
		rv := hsm.WithRetry(v, hsm.RetryOptions{MaxAttempts: 3, CallTimeout: 30 * time.Second})
		cache, err := localvol.New(vfs.Default, filepath.Join(dir, "cache", s.Name), nil)
		if err != nil {
			return nil, err
		}
		return cachevol.New(ctx, rv, cache, 1<<30)
	}
}

func open(dir string) (*engine.Engine, error) {
	return engine.Open(dir, &engine.Options{Logger: quiet, PrimaryLayout: engine.LayoutLocal, OpenVolume: opener(dir),
		CheckpointInterval: -1})
}

func dirBytes(dir string) (files int, bytes int64) {
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files++
			bytes += fi.Size()
		}
		return nil
	})
	return
}

func mbps(b int64, d time.Duration) float64 { return float64(b) / d.Seconds() / 1e6 }

func run() error {
	work, err := os.MkdirTemp("", "hsmbench")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	data := filepath.Join(work, "data")
	e, err := open(data)
	if err != nil {
		return err
	}
	defer func() { e.Close() }()
	if err := e.CreateDomain(ctx, "b.example"); err != nil {
		return err
	}
	a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "u@b.example"})
	if err != nil {
		return err
	}
	inbox, err := e.FolderByPath(ctx, a.ID, "INBOX")
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var items []engine.Item
	for i := range *n {
		sz := *size/2 + rng.IntN(*size)
		body := make([]byte, sz)
		for j := range body {
			body[j] = byte('a' + rng.IntN(26))
			if j%76 == 75 {
				body[j] = '\n'
			}
		}
		it, err := e.Append(ctx, a.ID, inbox.ID, append(fmt.Appendf(nil, "Subject: %d\r\n\r\n", i), body...), nil, time.Now())
		if err != nil {
			return err
		}
		items = append(items, it)
	}
	if err := e.Checkpoint(ctx); err != nil {
		return err
	}
	prim := filepath.Join(data, "volumes", "primary")
	files, total := dirBytes(filepath.Join(prim, "blobs"))
	fmt.Printf("hsmbench: %d messages, %d blob files, %.1f MB\n", *n, files, float64(total)/1e6)

	// local → local
	exec.Command("sync").Run()
	t0 := time.Now()
	if out, err := exec.Command("cp", "-r", filepath.Join(prim, "blobs"), filepath.Join(work, "cp-copy")).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -r: %v: %s", err, out)
	}
	exec.Command("sync").Run()
	cpTime := time.Since(t0)
	if err := e.CreateVolume(ctx, hsm.Spec{Name: "cold", Kind: hsm.KindSecondary, Type: hsm.TypeLocal, Layout: hsm.LayoutFile}); err != nil {
		return err
	}
	if *cpuOut != "" {
		f, err := os.Create(*cpuOut)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	t0 = time.Now()
	rep, err := e.MoveVolume(ctx, "primary", engine.MoveOptions{To: "cold"})
	if err != nil {
		return err
	}
	moveTime := time.Since(t0)
	dropTime, err := dropOldCopies(e)
	if err != nil {
		return err
	}
	fmt.Printf("local→local: cp -r + sync %v (%.0f MB/s); hsm move-volume %v (%.0f MB/s, %d blobs): %.0f%% of cp; "+
		"deleting the old copies after it %v (move and deletion: %.0f%% of cp)\n",
		cpTime.Round(time.Millisecond), mbps(total, cpTime), moveTime.Round(time.Millisecond), mbps(rep.Written, moveTime),
		rep.Blobs, 100*cpTime.Seconds()/moveTime.Seconds(), dropTime.Round(time.Millisecond),
		100*cpTime.Seconds()/(moveTime+dropTime).Seconds())

	if *s3bin == "" {
		fmt.Println("local→S3: skipped (no -s3 versitygw)")
		return nil
	}
	stop, err := startVersity(work)
	if err != nil {
		return err
	}
	defer stop()
	plain, err := s3vol.New(ctx, s3vol.Options{Endpoint: s3addr, Bucket: "hsm", Prefix: "plain",
		AccessKey: "bench", SecretKey: "benchsecret", CreateBucket: true})
	if err != nil {
		return err
	}
	cold := filepath.Join(data, "volumes", "cold")
	var names []string
	filepath.Walk(filepath.Join(cold, "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(cold, p)
			names = append(names, rel)
		}
		return nil
	})
	t0 = time.Now()
	var putBytes int64
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(cold, name))
		if err != nil {
			return err
		}
		if err := plain.Put(ctx, name, bytes.NewReader(b), int64(len(b))); err != nil {
			return err
		}
		putBytes += int64(len(b))
	}
	putTime := time.Since(t0)
	if err := e.CreateVolume(ctx, hsm.Spec{Name: "s3", Kind: hsm.KindSecondary, Type: hsm.TypeS3,
		S3: &hsm.S3Spec{Endpoint: s3addr, Bucket: "hsm", Prefix: "moved"}}); err != nil {
		return err
	}
	t0 = time.Now()
	rep, err = e.MoveVolume(ctx, "cold", engine.MoveOptions{To: "s3"})
	if err != nil {
		return err
	}
	s3Time := time.Since(t0)
	if dropTime, err = dropOldCopies(e); err != nil {
		return err
	}
	fmt.Printf("local→S3: PUT loop %v (%.0f MB/s, %d objects); hsm move-volume %v (%.0f MB/s, %d blobs): %.0f%% of the PUT loop; "+
		"deleting the old copies after it %v\n",
		putTime.Round(time.Millisecond), mbps(putBytes, putTime), len(names), s3Time.Round(time.Millisecond),
		mbps(rep.Written, s3Time), rep.Blobs, 100*putTime.Seconds()/s3Time.Seconds(), dropTime.Round(time.Millisecond))

	// FETCH from S3: cold (empty cache, engine reopened) and warm.
	if err := e.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(data, "cache")); err != nil {
		return err
	}
	if e, err = open(data); err != nil {
		return err
	}
	sample := items
	if len(sample) > 300 {
		sample = sample[:300]
	}
	fetch := func() ([]time.Duration, error) {
		var ds []time.Duration
		for _, it := range sample {
			t := time.Now()
			b, err := e.ReadBlobRange(ctx, a.ID, it.ID, 0, -1)
			if err != nil {
				return nil, err
			}
			if dedup.Sum(b) != it.Digest {
				return nil, fmt.Errorf("item %d read back wrong", it.ID)
			}
			ds = append(ds, time.Since(t))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds, nil
	}
	coldD, err := fetch()
	if err != nil {
		return err
	}
	warmD, err := fetch()
	if err != nil {
		return err
	}
	q := func(ds []time.Duration, p float64) time.Duration {
		return ds[int(p*float64(len(ds)-1))].Round(time.Microsecond)
	}
	fmt.Printf("FETCH from S3 (%d messages): cold p50 %v p99 %v; warm p50 %v p99 %v\n",
		len(sample), q(coldD, 0.5), q(coldD, 0.99), q(warmD, 0.5), q(warmD, 0.99))
	return nil
}

// dropOldCopies checkpoints until every moved blob's old copy is deleted
// (each checkpoint deletes a bounded batch) and returns how long it took.
func dropOldCopies(e *engine.Engine) (time.Duration, error) {
	t0 := time.Now()
	for {
		if err := e.Checkpoint(ctx); err != nil {
			return 0, err
		}
		n, err := e.PendingOldCopies()
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return time.Since(t0), nil
		}
	}
}

func startVersity(dir string) (func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s3addr = l.Addr().String()
	l.Close()
	root, meta := filepath.Join(dir, "s3data"), filepath.Join(dir, "s3meta")
	os.MkdirAll(root, 0o700)
	os.MkdirAll(meta, 0o700)
	cmd := exec.Command(*s3bin, "--access", "bench", "--secret", "benchsecret", "--region", "us-east-1",
		"--port", s3addr, "--quiet", "posix", "--sidecar", meta, root)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + s3addr + "/")
		if err == nil {
			resp.Body.Close()
			return stop, nil
		}
		if i > 200 {
			stop()
			return nil, fmt.Errorf("versitygw does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
