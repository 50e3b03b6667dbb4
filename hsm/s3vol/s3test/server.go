package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/hsm/s3vol"
)

// Version is the versitygw release the tests are written against.
const Version = "v1.8.0"

const (
	accessKey = "tidemarktest"
	secretKey = "tidemarktestsecret"
	region    = "us-east-1"
	// Bucket is the bucket Start creates.
	Bucket = "tidemark-test"
)

// Server is one running versitygw process.
type Server struct {
	t    testing.TB
	bin  string
	root string // bucket directories
	meta string // sidecar metadata, so no xattr support is needed
	addr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// Binary locates the versitygw executable.
func Binary() (string, error) {
	if p := os.Getenv("TIDEMARK_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("TIDEMARK_VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	if gopath != "" {
		for _, dir := range filepath.SplitList(gopath) {
			p := filepath.Join(dir, "bin", "versitygw")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", errors.New("versitygw not found in $TIDEMARK_VERSITYGW, $PATH or $(go env GOPATH)/bin")
}

// StartServer starts versitygw on a free loopback port with an empty data
// directory, creates Bucket, and stops the server when the test ends. It
// skips the test when the binary is missing, or fails it if
// TIDEMARK_REQUIRE_S3=1.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		msg := fmt.Sprintf("S3 tests need versitygw %s (install: GOBIN=$(go env GOPATH)/bin go install github.com/versity/versitygw/cmd/versitygw@%s, or run .ci/s3.sh): %v", Version, Version, err)
		if os.Getenv("TIDEMARK_REQUIRE_S3") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, root: filepath.Join(dir, "data"), meta: filepath.Join(dir, "meta")}
	for _, d := range []string{s.root, s.meta} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", s.out.String())
		}
	})
	// The free port is found by listening and closing, so another process
	// can take it first; try a few.
	for attempt := 0; ; attempt++ {
		s.addr = freeAddr(t)
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("start versitygw: %v\n%s", err, s.out.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := s.Options()
	o.CreateBucket = true
	if _, err := s3vol.New(ctx, o); err != nil {
		t.Fatalf("create bucket: %v\n%s", err, s.out.String())
	}
	return s
}

// Start is StartServer for tests that need only the options.
func Start(t testing.TB) s3vol.Options {
	t.Helper()
	return StartServer(t).Options()
}

// Options returns volume options for Bucket on this server with no prefix;
// set Prefix to share the bucket between volumes.
func (s *Server) Options() s3vol.Options {
	return s3vol.Options{
		Endpoint:  s.addr,
		Bucket:    Bucket,
		AccessKey: accessKey,
		SecretKey: secretKey,
		Region:    region,
		// One try per request: tests of outages want the failure, not a wait.
		MaxRetries: 1,
	}
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Dir returns the directory holding the buckets (bucket Bucket is a
// subdirectory), for tests that inspect or damage stored objects.
func (s *Server) Dir() string { return s.root }

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// start runs the process and waits until it answers HTTP.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	if s.out == nil {
		s.out = &syncBuffer{}
	}
	cmd := exec.Command(s.bin,
		"--access", accessKey, "--secret", secretKey, "--region", region,
		"--port", s.addr, "--quiet",
		"posix", "--sidecar", s.meta, s.root)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-done:
			return fmt.Errorf("versitygw exited at startup: %s", cmd.ProcessState)
		default:
		}
		resp, err := client.Get("http://" + s.addr + "/")
		if err == nil {
			resp.Body.Close()
			break // any HTTP answer, even 403, means it serves
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("versitygw not answering on %s: %v", s.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd, s.done = cmd, done
	return nil
}

// Stop kills the server, as an outage would; stored objects stay on disk.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// Restart stops the server if it runs and starts it again on the same
// address with the same data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The port was just released; give the kernel a moment if it is busy.
	var err error
	for i := 0; i < 20; i++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restart versitygw: %v\n%s", err, s.out.String())
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil // enough to diagnose; do not grow without bound
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
