// Command liverestorebench measures an account restore on a live server
// against the same restore with the server stopped, end to end through the
// real binary: the realistic corpus is delivered to one account over LMTP
// and backed up; then, in alternating rounds,
//
//   - live: while a steady LMTP load (default 200 msg/s) goes to other
//     accounts, "tidemark restore account SRC --at last --into NEW --sync"
//     is submitted to the running server and timed, process start included;
//   - offline: the server is stopped and the same command runs in its own
//     process.
//
// Delivery latency (MAIL FROM to the LMTP reply) is recorded under the same
// load with no restore running and during each live restore.
//
//	go run ./bench/liverestore [-bin tidemark] [-corpus DIR] [-rounds 3] [-rate 200]
package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/klauspost/compress/zstd"
)

var (
	binFlag = flag.String("bin", "", "tidemark binary (default: built from this checkout)")
	corpus  = flag.String("corpus", "../shared/corpus/realistic", "directory of *.tar.zst message archives")
	rounds  = flag.Int("rounds", 3, "rounds of each restore, alternating")
	rate    = flag.Int("rate", 200, "background deliveries per second")
	quietS  = flag.Duration("baseline", 15*time.Second, "how long the load runs without a restore for the baseline latency")
	work    = flag.String("work", "", "work directory (default: a temp dir, removed after)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "liverestorebench:", err)
		os.Exit(1)
	}
}

type server struct {
	cmd  *exec.Cmd
	lmtp string
	done chan error
}

func run() error {
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "liverestore")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bin := *binFlag
	if bin == "" {
		bin = filepath.Join(dir, "tidemark")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/tidemark").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	msgs, size, err := loadCorpus(*corpus)
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--data", data)...).CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("tidemark %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	for _, a := range [][]string{{"init"}, {"domain", "create", "example.org"},
		{"account", "create", "src@example.org", "--password", "pw"}} {
		if _, err := tm(a...); err != nil {
			return err
		}
	}
	const loadAccounts = 20
	for i := 0; i < loadAccounts; i++ {
		if _, err := tm("account", "create", fmt.Sprintf("load%d@example.org", i), "--password", "pw"); err != nil {
			return err
		}
	}
	s, err := startServer(bin, data)
	if err != nil {
		return err
	}
	fmt.Printf("delivering %d messages (%.1f MB) to src@example.org\n", len(msgs), float64(size)/1e6)
	if err := deliverAll(s.lmtp, "src@example.org", msgs); err != nil {
		return err
	}
	if err := waitLevel(tm); err != nil {
		return err
	}

	load := func(stop <-chan struct{}, lat *[]time.Duration, failed *int) {
		interval := time.Second / time.Duration(*rate)
		var mu sync.Mutex
		var wg sync.WaitGroup
		// Enough connections that a slow reply does not lower the rate.
		jobs := make(chan int, *rate)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var c *smtp.Client
				for i := range jobs {
					if c == nil {
						conn, err := net.Dial("tcp", s.lmtp)
						if err != nil {
							mu.Lock()
							*failed++
							mu.Unlock()
							continue
						}
						c = smtp.NewClientLMTP(conn)
						if c.Hello("bench") != nil {
							c.Close()
							c = nil
							continue
						}
					}
					rcpt := fmt.Sprintf("load%d@example.org", i%loadAccounts)
					t0 := time.Now()
					err := deliverOne(c, rcpt, msgs[i%len(msgs)])
					d := time.Since(t0)
					mu.Lock()
					if err != nil {
						*failed++
						c.Close()
						c = nil
					} else {
						*lat = append(*lat, d)
					}
					mu.Unlock()
				}
				if c != nil {
					c.Quit()
				}
			}()
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				close(jobs)
				wg.Wait()
				return
			case <-tick.C:
				select {
				case jobs <- i:
				default: // every worker busy: count as a miss rather than queue
					mu.Lock()
					*failed++
					mu.Unlock()
				}
			}
		}
	}

	// Baseline: the load alone.
	var base []time.Duration
	var baseFailed int
	stop := make(chan struct{})
	doneLoad := make(chan struct{})
	go func() { load(stop, &base, &baseFailed); close(doneLoad) }()
	time.Sleep(*quietS)
	close(stop)
	<-doneLoad
	fmt.Printf("baseline: %d deliveries in %s (%d missed), p50 %s p99 %s\n", len(base), *quietS, baseFailed, pct(base, 50), pct(base, 99))

	var liveT, offT []time.Duration
	var liveLat []time.Duration
	var liveFailed int
	n := 0
	for r := 0; r < *rounds; r++ {
		// Alternate which comes first.
		order := []string{"live", "offline"}
		if r%2 == 1 {
			order = []string{"offline", "live"}
		}
		for _, kind := range order {
			n++
			into := fmt.Sprintf("copy%d@example.org", n)
			switch kind {
			case "live":
				if s == nil {
					if s, err = startServer(bin, data); err != nil {
						return err
					}
				}
				stop := make(chan struct{})
				done := make(chan struct{})
				var lat []time.Duration
				var failed int
				go func() { load(stop, &lat, &failed); close(done) }()
				time.Sleep(2 * time.Second)
				t0 := time.Now()
				lat0 := len(lat)
				_, err := tm("restore", "account", "src@example.org", "--at", "last", "--into", into, "--sync")
				d := time.Since(t0)
				close(stop)
				<-done
				if err != nil {
					return err
				}
				during := lat[lat0:]
				liveT = append(liveT, d)
				liveLat = append(liveLat, during...)
				liveFailed += failed
				fmt.Printf("round %d live: %s (%.1f MB/s); %d deliveries during it, p99 %s, %d missed\n",
					r+1, d.Round(time.Millisecond), float64(size)/1e6/d.Seconds(), len(during), pct(during, 99), failed)
			case "offline":
				if s != nil {
					if err := s.stop(); err != nil {
						return err
					}
					s = nil
				}
				t0 := time.Now()
				if _, err := tm("restore", "account", "src@example.org", "--at", "last", "--into", into); err != nil {
					return err
				}
				d := time.Since(t0)
				offT = append(offT, d)
				fmt.Printf("round %d offline: %s (%.1f MB/s)\n", r+1, d.Round(time.Millisecond), float64(size)/1e6/d.Seconds())
			}
		}
	}
	if s != nil {
		s.stop()
	}
	lm, om := median(liveT), median(offT)
	fmt.Printf("\nrestore of %d messages, %.1f MB, median of %d:\n", len(msgs), float64(size)/1e6, *rounds)
	fmt.Printf("  offline %s (%.1f MB/s, range %s-%s)\n", om.Round(time.Millisecond), float64(size)/1e6/om.Seconds(), minD(offT).Round(time.Millisecond), maxD(offT).Round(time.Millisecond))
	fmt.Printf("  live    %s (%.1f MB/s, range %s-%s) = %.0f%% of offline speed\n", lm.Round(time.Millisecond), float64(size)/1e6/lm.Seconds(), minD(liveT).Round(time.Millisecond), maxD(liveT).Round(time.Millisecond), 100*om.Seconds()/lm.Seconds())
	fmt.Printf("delivery at %d msg/s: p99 %s alone, %s during live restores (%.2fx); missed %d alone, %d during\n",
		*rate, pct(base, 99), pct(liveLat, 99), float64(pct(liveLat, 99))/float64(pct(base, 99)), baseFailed, liveFailed)
	return nil
}

func startServer(bin, data string) (*server, error) {
	lmtp, imap := freePort(), freePort()
	cmd := exec.Command(bin, "serve", "--data", data, "--lmtp", lmtp, "--imap", imap, "--imaps", "off")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, lmtp: lmtp, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("tcp", lmtp); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return nil, errors.New("server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The admin socket comes up with the listeners; give it a moment.
	time.Sleep(200 * time.Millisecond)
	return s, nil
}

func (s *server) stop() error {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		return nil
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		return errors.New("server did not stop within 60 s")
	}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func deliverOne(c *smtp.Client, rcpt string, msg []byte) error {
	if err := c.Mail("bench@example.org", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	return err
}

// deliverAll delivers every message to rcpt over 8 connections.
func deliverAll(addr, rcpt string, msgs [][]byte) error {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			c := smtp.NewClientLMTP(conn)
			defer c.Close()
			if err := c.Hello("bench"); err != nil {
				errs <- err
				return
			}
			for i := w; i < len(msgs); i += 8 {
				if err := deliverOne(c, rcpt, msgs[i]); err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// waitLevel waits until the backup holds every record.
func waitLevel(tm func(...string) (string, error)) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := tm("backup", "status", "--json")
		if err != nil {
			return err
		}
		var st struct {
			State      string `json:"state"`
			LagRecords uint64 `json:"lag_records"`
			ShippedLSN uint64 `json:"shipped_lsn"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return fmt.Errorf("backup status: %v\n%s", err, out)
		}
		if st.State == "running" && st.LagRecords == 0 && st.ShippedLSN > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backup not level after 5 minutes: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func loadCorpus(dir string) ([][]byte, int64, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tar.zst"))
	sort.Strings(files)
	if len(files) == 0 {
		return nil, 0, fmt.Errorf("no *.tar.zst in %s", dir)
	}
	var out [][]byte
	var size int64
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, 0, err
		}
		zr, err := zstd.NewReader(fh)
		if err != nil {
			fh.Close()
			return nil, 0, err
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				zr.Close()
				fh.Close()
				return nil, 0, fmt.Errorf("%s: %w", f, err)
			}
			if h.Typeflag != tar.TypeReg || h.Size == 0 {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				zr.Close()
				fh.Close()
				return nil, 0, err
			}
			out = append(out, b)
			size += int64(len(b))
		}
		zr.Close()
		fh.Close()
	}
	return out, size, nil
}

func sorted(d []time.Duration) []time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := sorted(d)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(10 * time.Microsecond)
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }
func minD(d []time.Duration) time.Duration   { return sorted(d)[0] }
func maxD(d []time.Duration) time.Duration   { s := sorted(d); return s[len(s)-1] }
