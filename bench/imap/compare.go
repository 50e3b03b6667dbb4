package main

// compare: tidemark and another IMAP server (Dovecot in run.sh -x) in one
// run, rounds alternating between the two, every case on both.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is one server under comparison.
type target struct {
	name string
	addr string
	pid  int  // the server process (tidemark) or the master process (Dovecot)
	pss  bool // memory = PSS summed over pid and its descendants; else RSS of pid
	// maildir, when set, is the server's mail root (ROOT/USER/Maildir):
	// the large accounts are written there as files and indexed by a
	// SELECT instead of APPENDed one by one.
	maildir string
}

// figures collects one case's numbers per server, one per round.
type figures map[string][]float64

func (f figures) add(key string, v float64) { f[key] = append(f[key], v) }

func compare(args []string) {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	tmAddr := fs.String("tidemark", "127.0.0.1:27143", "tidemark address")
	tmPID := fs.Int("tidemark-pid", 0, "tidemark server process id (RSS)")
	dvAddr := fs.String("dovecot", "127.0.0.1:24143", "Dovecot address")
	dvPID := fs.Int("dovecot-pid", 0, "Dovecot master process id (PSS of it and every descendant)")
	password := fs.String("password", "bench", "password of every account")
	dir := fs.String("msgs", "", "directory of message files for the workloads")
	bulkDir := fs.String("bulk", "", "directory tree of message files for the bulk FETCH account")
	clients := fs.Int("clients", 8, "concurrent clients, one account each")
	n := fs.Int("n", 300, "messages per workload account")
	iters := fs.Int("iters", 10, "workload iterations per client in each round")
	rounds := fs.Int("rounds", 5, "alternating rounds")
	resyncN := fs.Int("resync-n", 10000, "messages in the resync folder")
	changes := fs.Int("changes", 100, "flag changes before each resync")
	total := fs.Int("total", 100000, "messages stored in all before the memory reading (filler accounts make up the rest)")
	idleSessions := fs.Int("idle-sessions", 200, "sessions held open in IDLE on the workload accounts for the many-sessions memory reading (0: skip)")
	dvMaildir := fs.String("dovecot-maildir", "", "Dovecot's mail root: write the large accounts as maildir files there")
	fs.Parse(args)

	servers := []target{
		{name: "tidemark", addr: *tmAddr, pid: *tmPID},
		{name: "dovecot", addr: *dvAddr, pid: *dvPID, pss: true, maildir: *dvMaildir},
	}
	msgs := readMessages(*dir, *n)
	pool := readMessages(*dir, 1<<30)
	bulk := readTree(*bulkDir)
	var bulkBytes int64
	for _, m := range bulk {
		bulkBytes += int64(len(m))
	}
	filler := *total - 2**clients*len(msgs) - *resyncN - len(bulk)
	if filler < 0 {
		filler = 0
	}
	fmt.Printf("accounts per server: %d x %d msgs (sessions), %d x %d (login per round), 1 x %d (resync), 1 x %d (bulk, %.1f MB), %d filler msgs over %d accounts\n",
		*clients, len(msgs), *clients, len(msgs), *resyncN, len(bulk), float64(bulkBytes)/1e6, filler, *clients)

	res := map[string]figures{}
	for _, s := range servers {
		res[s.name] = figures{}
		t0 := time.Now()
		run(*clients, func(i int) error { return appendAll(s.addr, fmt.Sprintf("s%d@example.com", i), *password, msgs) })
		run(*clients, func(i int) error { return appendAll(s.addr, fmt.Sprintf("l%d@example.com", i), *password, msgs) })
		per := func(i int) int {
			p := filler / *clients
			if i < filler%*clients {
				p++
			}
			return p
		}
		if s.maildir != "" {
			writeMaildir(s, *password, "r0@example.com", pool, *resyncN)
			writeMaildir(s, *password, "k0@example.com", bulk, len(bulk))
			for i := 0; i < *clients; i++ {
				writeMaildir(s, *password, fmt.Sprintf("f%d@example.com", i), pool, per(i))
			}
		} else {
			spread(s.addr, "r0@example.com", *password, pool, *resyncN, *clients)
			spread(s.addr, "k0@example.com", *password, bulk, len(bulk), *clients)
			run(*clients, func(i int) error {
				return appendCycle(s.addr, fmt.Sprintf("f%d@example.com", i), *password, pool, per(i))
			})
		}
		stored := 2**clients*len(msgs) + *resyncN + len(bulk) + filler
		secs := time.Since(t0).Seconds()
		time.Sleep(5 * time.Second)
		mem := memory(s)
		res[s.name].add("mem_idle", mem)
		anon, file := memorySplit(s)
		fmt.Printf("%s: stored %d msgs in %.0fs; memory after that, idle 5 s: %.1f MiB (anonymous %.1f, file-backed %.1f)\n",
			s.name, stored, secs, mem, anon, file)
	}

	for r := 0; r < *rounds; r++ {
		order := servers
		if r%2 == 1 {
			order = []target{servers[1], servers[0]}
		}
		for _, s := range order {
			f := res[s.name]
			c0, s0 := cpuSeconds(os.Getpid(), false), serverCPU(s)
			t0 := time.Now()
			rps := workload(s, *password, *clients, *iters, r, false)
			wall := time.Since(t0).Seconds()
			f.add("session_cpu_client", (cpuSeconds(os.Getpid(), false)-c0)/wall)
			f.add("session_cpu_server", (serverCPU(s)-s0)/wall)
			f.add("session_cpu_ms", (serverCPU(s)-s0)*1000/(rps*wall))
			f.add("session", rps)
			rpl := workload(s, *password, *clients, *iters, r, true)
			f.add("login", rpl)
			cb, cd, fb, fd := resync(s, *password, *changes, *resyncN, r)
			f.add("resync_bytes", float64(cb))
			f.add("resync_ms", cd.Seconds()*1000)
			f.add("full_bytes", float64(fb))
			f.add("full_ms", fd.Seconds()*1000)
			f.add("resync_pct", 100*float64(cb)/float64(fb))
			bd, lit, peak := bulkFetch(s, *password, len(bulk))
			if lit != bulkBytes {
				log.Fatalf("%s: bulk FETCH returned %d literal bytes, stored %d", s.name, lit, bulkBytes)
			}
			f.add("bulk_s", bd.Seconds())
			f.add("bulk_mbs", float64(lit)/1e6/bd.Seconds())
			f.add("mem_bulk", peak)
			fmt.Printf("round %d %s: sessions %.1f rounds/s (CPU: server %.2f, load generator %.2f cores), login per round %.1f rounds/s, resync %d B %.1f ms vs full %d B %.1f ms, bulk FETCH %.2fs (%.1f MB/s), peak memory %.1f MiB, load %s\n",
				r+1, s.name, rps, f["session_cpu_server"][r], f["session_cpu_client"][r], rpl, cb, cd.Seconds()*1000, fb, fd.Seconds()*1000, bd.Seconds(), float64(lit)/1e6/bd.Seconds(), peak, loadavg())
		}
	}

	if *idleSessions > 0 {
		for _, s := range servers {
			base := memory(s)
			mem, err := idleMemory(s, *password, *clients, *idleSessions)
			if err != nil {
				log.Fatalf("%s: %d idle sessions: %v", s.name, *idleSessions, err)
			}
			res[s.name].add("mem_sessions", mem)
			res[s.name].add("mem_per_session", (mem-base)*1024/float64(*idleSessions))
			fmt.Printf("%s: %d sessions in IDLE (SELECT of a %d-message INBOX): memory %.1f MiB, %.0f KiB per session over the %.1f MiB before\n",
				s.name, *idleSessions, len(msgs), mem, (mem-base)*1024/float64(*idleSessions), base)
		}
	}

	fmt.Println("\nmedian [min - max] over rounds; ratio = tidemark/dovecot (per round, median [min - max])")
	keys := []struct{ key, label string }{
		{"session", "long sessions, rounds/s"},
		{"session_cpu_server", "long sessions, server CPU (cores)"},
		{"session_cpu_client", "long sessions, load generator CPU (cores)"},
		{"session_cpu_ms", "long sessions, server CPU ms per round"},
		{"login", "login per round, rounds/s"},
		{"resync_bytes", "CONDSTORE resync, bytes"},
		{"resync_ms", "CONDSTORE resync, ms"},
		{"full_bytes", "full FETCH 1:* (FLAGS), bytes"},
		{"full_ms", "full FETCH 1:* (FLAGS), ms"},
		{"resync_pct", "resync bytes, % of full"},
		{"bulk_s", "bulk FETCH BODY.PEEK[], s"},
		{"bulk_mbs", "bulk FETCH, MB/s"},
		{"mem_idle", "memory after all stored, MiB"},
		{"mem_bulk", "memory peak during bulk FETCH, MiB"},
		{"mem_sessions", "memory with the IDLE sessions, MiB"},
		{"mem_per_session", "memory per IDLE session, KiB"},
	}
	for _, k := range keys {
		t, d := res["tidemark"][k.key], res["dovecot"][k.key]
		var ratio []float64
		for i := range t {
			if i < len(d) && d[i] != 0 {
				ratio = append(ratio, t[i]/d[i])
			}
		}
		fmt.Printf("%-38s tidemark %s  dovecot %s  ratio %s\n", k.label, stat(t), stat(d), stat(ratio))
	}
}

func stat(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%.3g [%.3g - %.3g]", med, s[0], s[len(s)-1])
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// readTree reads every message file (maildir new/) under dir, CRLF-normalised, in path order.
func readTree(dir string) [][]byte {
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && filepath.Base(filepath.Dir(p)) == "new" {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		log.Fatalf("no messages under %s", dir)
	}
	sort.Strings(files)
	out := make([][]byte, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		out = append(out, crlf(b))
	}
	return out
}

// writeMaildir stores count messages (cycling through msgs) as files in
// the user's maildir new/ (owned by nobody, as the server runs), then
// SELECTs the INBOX so that the server indexes them.
func writeMaildir(s target, pw, user string, msgs [][]byte, count int) {
	if count == 0 {
		return
	}
	name := strings.SplitN(user, "@", 2)[0]
	md := filepath.Join(s.maildir, name, "Maildir")
	uid, gid := ownerOf(s.maildir)
	for _, d := range []string{"", "new", "cur", "tmp"} {
		p := filepath.Join(md, d)
		if err := os.MkdirAll(p, 0o700); err != nil {
			log.Fatal(err)
		}
		os.Lchown(filepath.Join(s.maildir, name), uid, gid)
		os.Lchown(p, uid, gid)
	}
	base := time.Now().Unix()
	for k := 0; k < count; k++ {
		m := msgs[k%len(msgs)]
		f := filepath.Join(md, "new", fmt.Sprintf("%d.M%dP%d.bench,S=%d", base, k, os.Getpid(), len(m)))
		if err := os.WriteFile(f, m, 0o600); err != nil {
			log.Fatal(err)
		}
		os.Lchown(f, uid, gid)
	}
	c, err := rawDial(s.addr, user, pw)
	if err != nil {
		log.Fatal(err)
	}
	defer c.close()
	if _, err := c.cmd("SELECT INBOX", nil); err != nil {
		log.Fatal(err)
	}
}

// spread APPENDs count messages (cycling through msgs) into one account
// over conns connections.
func spread(addr, user, pw string, msgs [][]byte, count, conns int) {
	run(conns, func(i int) error {
		var part [][]byte
		for k := i; k < count; k += conns {
			part = append(part, msgs[k%len(msgs)])
		}
		return appendAll(addr, user, pw, part)
	})
}

func appendCycle(addr, user, pw string, msgs [][]byte, count int) error {
	part := make([][]byte, count)
	for k := range part {
		part[k] = msgs[k%len(msgs)]
	}
	return appendAll(addr, user, pw, part)
}

// workload runs iters workload rounds on each of clients accounts and
// returns rounds per second. Without relogin every client logs in before
// the clock starts and keeps its session. The rounds are the commands of
// round (main.go) sent by rawConn, which reads the answers line by line
// and skips literals without parsing them: go-imap's client, which
// decodes every FETCH item into structures, used as much CPU per round as
// the servers did, and the two share the machine's two cores.
func workload(s target, pw string, clients, iters, r int, relogin bool) float64 {
	prefix := "s"
	if relogin {
		prefix = "l"
	}
	cs := make([]*rawConn, clients)
	if !relogin {
		run(clients, func(i int) error {
			c, err := rawDial(s.addr, fmt.Sprintf("%s%d@example.com", prefix, i), pw)
			cs[i] = c
			return err
		})
	}
	start := time.Now()
	run(clients, func(i int) error {
		for k := 0; k < iters; k++ {
			c := cs[i]
			if relogin {
				var err error
				if c, err = rawDial(s.addr, fmt.Sprintf("%s%d@example.com", prefix, i), pw); err != nil {
					return err
				}
			}
			if err := rawRound(c, r*iters+k); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if relogin {
				c.close()
			}
		}
		return nil
	})
	secs := time.Since(start).Seconds()
	for _, c := range cs {
		if c != nil {
			c.close()
		}
	}
	return float64(clients*iters) / secs
}

// rawRound is round (main.go) over a rawConn: the same commands, with
// the same sequence numbers, flags and search keys.
func rawRound(c *rawConn, r int) error {
	var n int
	if _, err := c.cmd("SELECT INBOX", func(l string) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "*" && strings.EqualFold(f[2], "EXISTS") {
			n, _ = strconv.Atoi(f[1])
		}
	}); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("empty INBOX")
	}
	var got int
	if _, err := c.cmd("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)])", countFetch(&got)); err != nil {
		return fmt.Errorf("fetch headers: %w", err)
	}
	if got != n {
		return fmt.Errorf("fetch headers: %d of %d messages", got, n)
	}
	// The 20 numbers of round, sorted and without repeats as go-imap's
	// SeqSet sends them.
	var seqs []int
	for k := 0; k < 20; k++ {
		seqs = append(seqs, (r*37+k*13)%n+1)
	}
	sort.Ints(seqs)
	nums := make([]string, 0, len(seqs))
	for i, q := range seqs {
		if i == 0 || q != seqs[i-1] {
			nums = append(nums, strconv.Itoa(q))
		}
	}
	set := strings.Join(nums, ",")
	if _, err := c.cmd("FETCH "+set+" (UID BODY[])", nil); err != nil {
		return fmt.Errorf("fetch bodies: %w", err)
	}
	if _, err := c.cmd("STORE "+set+" +FLAGS.SILENT (\\Flagged)", nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := c.cmd("SEARCH FLAGGED NOT DELETED", nil); err != nil {
		return fmt.Errorf("search flags: %w", err)
	}
	if _, err := c.cmd("SEARCH HEADER Subject re", nil); err != nil {
		return fmt.Errorf("search subject: %w", err)
	}
	del := fmt.Sprintf("%d,%d", r%n+1, (r*7+3)%n+1)
	if _, err := c.cmd("STORE "+del+" +FLAGS.SILENT (\\Deleted)", nil); err != nil {
		return fmt.Errorf("store deleted: %w", err)
	}
	if _, err := c.cmd("EXPUNGE", nil); err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	if _, err := c.cmd("UNSELECT", nil); err != nil {
		return fmt.Errorf("unselect: %w", err)
	}
	return nil
}

// rawConn is a minimal IMAP client that counts the bytes the server sends
// and skips literals without keeping them. Literals are discarded through
// its 64 KiB buffer (bufio.Reader.Discard), 64 KiB a read: an io.CopyN to
// io.Discard reads 8 KiB at a time, which made the load generator, not the
// servers, the limit of the bulk FETCH on two cores.
type rawConn struct {
	nc  net.Conn
	br  *bufio.Reader
	in  int64 // bytes received
	lit int64 // literal bytes received
	n   int
}

type countReader struct {
	r io.Reader
	n *int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

func rawDial(addr, user, pw string) (*rawConn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &rawConn{nc: nc}
	c.br = bufio.NewReaderSize(countReader{nc, &c.in}, 64<<10)
	if _, err := c.br.ReadString('\n'); err != nil {
		nc.Close()
		return nil, err
	}
	if _, err := c.cmd(fmt.Sprintf("LOGIN %q %q", user, pw), nil); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// cmd sends one command and reads to its tagged response; each untagged
// line (literals skipped) goes to line. It returns the bytes received.
func (c *rawConn) cmd(command string, line func(string)) (int64, error) {
	c.n++
	tag := "b" + strconv.Itoa(c.n)
	if _, err := io.WriteString(c.nc, tag+" "+command+"\r\n"); err != nil {
		return 0, err
	}
	before := c.in - int64(c.br.Buffered())
	for {
		l, err := c.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			rest, err2 := c.br.ReadString('\n')
			l, err = append(append([]byte(nil), l...), rest...), err2
		}
		if err != nil {
			return 0, err
		}
		if bytes.HasSuffix(l, []byte("}\r\n")) {
			if i := bytes.LastIndexByte(l, '{'); i >= 0 {
				size, perr := strconv.ParseInt(strings.TrimSuffix(string(l[i+1:len(l)-3]), "+"), 10, 64)
				if perr == nil {
					if line != nil {
						line(string(l))
					}
					if _, err := c.br.Discard(int(size)); err != nil {
						return 0, err
					}
					c.lit += size
					continue
				}
			}
		}
		if bytes.HasPrefix(l, []byte(tag+" ")) {
			got := c.in - int64(c.br.Buffered()) - before
			if !bytes.HasPrefix(l, []byte(tag+" OK")) {
				return got, fmt.Errorf("%s: %s", command, strings.TrimSpace(string(l)))
			}
			return got, nil
		}
		if line != nil {
			line(string(l))
		}
	}
}

// countFetch counts untagged FETCH responses.
func countFetch(n *int) func(string) {
	return func(l string) {
		if strings.HasPrefix(l, "* ") && strings.Contains(l, " FETCH ") {
			*n++
		}
	}
}

func (c *rawConn) close() {
	c.cmd("LOGOUT", nil)
	c.nc.Close()
}

// resync changes flags of changes messages from one session, then has a
// second session (a client coming back) SELECT with CONDSTORE and fetch
// what changed since the HIGHESTMODSEQ it knew, and, for comparison, every
// flag. It returns bytes and time of both fetches.
func resync(s target, pw string, changes, n, r int) (int64, time.Duration, int64, time.Duration) {
	a, err := rawDial(s.addr, "r0@example.com", pw)
	if err != nil {
		log.Fatal(err)
	}
	var hms string
	if _, err := a.cmd("SELECT INBOX (CONDSTORE)", func(l string) {
		if i := strings.Index(l, "[HIGHESTMODSEQ "); i >= 0 {
			hms = strings.Fields(l[i+len("[HIGHESTMODSEQ "):])[0]
			hms = strings.TrimSuffix(hms, "]")
		}
	}); err != nil || hms == "" {
		log.Fatalf("%s: select condstore: %v (HIGHESTMODSEQ %q)", s.name, err, hms)
	}
	a.close()
	b, err := rawDial(s.addr, "r0@example.com", pw)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := b.cmd("SELECT INBOX", nil); err != nil {
		log.Fatal(err)
	}
	for k := 0; k < changes; k++ {
		seq := (k*n/changes+r)%n + 1
		if _, err := b.cmd(fmt.Sprintf("STORE %d +FLAGS.SILENT (\\Flagged)", seq), nil); err != nil {
			log.Fatalf("%s: %v", s.name, err)
		}
	}
	b.close()
	c, err := rawDial(s.addr, "r0@example.com", pw)
	if err != nil {
		log.Fatal(err)
	}
	defer c.close()
	if _, err := c.cmd("SELECT INBOX (CONDSTORE)", nil); err != nil {
		log.Fatal(err)
	}
	var got int
	t0 := time.Now()
	cb, err := c.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE "+hms+")", countFetch(&got))
	cd := time.Since(t0)
	if err != nil || got < changes {
		log.Fatalf("%s: resync: %v, %d FETCH responses for %d changes", s.name, err, got, changes)
	}
	got = 0
	t0 = time.Now()
	fb, err := c.cmd("FETCH 1:* (FLAGS)", countFetch(&got))
	fd := time.Since(t0)
	if err != nil || got != n {
		log.Fatalf("%s: full refetch: %v, %d of %d", s.name, err, got, n)
	}
	return cb, cd, fb, fd
}

// bulkFetch fetches every message of the bulk account in one command and
// samples the server's memory meanwhile. It returns the time, the literal
// bytes received and the peak memory in MiB.
func bulkFetch(s target, pw string, n int) (time.Duration, int64, float64) {
	c, err := rawDial(s.addr, "k0@example.com", pw)
	if err != nil {
		log.Fatal(err)
	}
	defer c.close()
	if _, err := c.cmd("EXAMINE INBOX", nil); err != nil {
		log.Fatal(err)
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if m := uint64(memory(s) * 1024); m > peak.Load() {
				peak.Store(m)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	got := 0
	c.lit = 0
	t0 := time.Now()
	_, err = c.cmd("FETCH 1:* BODY.PEEK[]", countFetch(&got))
	d := time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil || got != n {
		log.Fatalf("%s: bulk fetch: %v, %d of %d", s.name, err, got, n)
	}
	return d, c.lit, float64(peak.Load()) / 1024
}

// idleMemory opens n sessions spread over the clients workload accounts,
// each LOGIN, SELECT INBOX and IDLE, as mail clients that stay connected
// do, reads the server's memory after 3 quiet seconds and closes them.
// A failed session stops the run (run).
func idleMemory(s target, pw string, clients, n int) (float64, error) {
	conns := make([]*rawConn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.nc.Close()
			}
		}
	}()
	run(16, func(w int) error {
		for i := w; i < n; i += 16 {
			c, err := rawDial(s.addr, fmt.Sprintf("s%d@example.com", i%clients), pw)
			if err != nil {
				return fmt.Errorf("%s: session %d: %w", s.name, i, err)
			}
			conns[i] = c
			if _, err := c.cmd("SELECT INBOX", nil); err != nil {
				return err
			}
			if _, err := io.WriteString(c.nc, "i IDLE\r\n"); err != nil {
				return err
			}
			l, err := c.br.ReadString('\n')
			if err != nil {
				return err
			}
			if !strings.HasPrefix(l, "+") {
				return fmt.Errorf("IDLE: %s", strings.TrimSpace(l))
			}
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	return memory(s), nil
}

// cpuSeconds is the user and system CPU time of process pid, with that of
// its waited-for children when children is set, from /proc/PID/stat.
func cpuSeconds(pid int, children bool) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	// After "pid (comm)": state is field 3, utime 14, stime 15, cutime
	// 16, cstime 17 (proc(5)); f[0] is field 3.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks float64
	n := 2
	if children {
		n = 4
	}
	for _, v := range f[11 : 11+n] {
		t, _ := strconv.ParseFloat(v, 64)
		ticks += t
	}
	return ticks / 100 // USER_HZ is 100 on Linux
}

// serverCPU is the server's CPU seconds so far: tidemark's process, or
// Dovecot's master and every descendant with the children each has
// waited for (imap processes that ended).
func serverCPU(s target) float64 {
	if s.pid == 0 {
		return 0
	}
	if !s.pss {
		return cpuSeconds(s.pid, false)
	}
	var sec float64
	for _, p := range descendants(s.pid) {
		sec += cpuSeconds(p, true)
	}
	return sec
}

// memory is the server's memory in MiB: RSS of the process, or PSS summed
// over the process and all its descendants (Dovecot's master, login,
// auth, imap processes), from /proc/PID/smaps_rollup.
func memory(s target) float64 {
	if s.pid == 0 {
		return 0
	}
	if !s.pss {
		return procField(fmt.Sprintf("/proc/%d/status", s.pid), "VmRSS:") / 1024
	}
	var kb float64
	for _, p := range descendants(s.pid) {
		kb += procField(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss:")
	}
	return kb / 1024
}

// memorySplit is memory split into anonymous pages (heap, caches) and
// file-backed ones (the program's code and libraries): RssAnon and
// RssFile of the process, or Pss_Anon and Pss_File summed as memory sums
// Pss.
func memorySplit(s target) (anon, file float64) {
	if s.pid == 0 {
		return 0, 0
	}
	if !s.pss {
		st := fmt.Sprintf("/proc/%d/status", s.pid)
		return procField(st, "RssAnon:") / 1024, procField(st, "RssFile:") / 1024
	}
	for _, p := range descendants(s.pid) {
		r := fmt.Sprintf("/proc/%d/smaps_rollup", p)
		anon += procField(r, "Pss_Anon:")
		file += procField(r, "Pss_File:")
	}
	return anon / 1024, file / 1024
}

func ownerOf(path string) (int, int) {
	st, err := os.Stat(path)
	if err != nil {
		log.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return int(sys.Uid), int(sys.Gid)
}

func procField(path, key string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			f := strings.Fields(l[len(key):])
			if len(f) > 0 {
				v, _ := strconv.ParseFloat(f[0], 64)
				return v
			}
		}
	}
	return 0
}

// descendants is pid and every process below it.
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	out := []int{pid}
	for changed := true; changed; {
		changed = false
		in := map[int]bool{}
		for _, p := range out {
			in[p] = true
		}
		for p, pp := range parent {
			if in[pp] && !in[p] {
				out = append(out, p)
				changed = true
			}
		}
	}
	return out
}
