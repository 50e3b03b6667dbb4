// Command imapbench measures an IMAP workload against tidemark and any
// other IMAP server (Dovecot in bench/imap/run.sh).
//
//	imapbench serve -data DIR -addr 127.0.0.1:27143 -accounts N -password PW [-tls-addr A -tls-cert F -tls-key F]
//	imapbench load  -addr HOST:PORT -clients N -user-fmt 'bench%d@example.com' -password PW -msgs DIR -n M -rounds R [-tls]
//
// serve opens a tidemark engine in DIR (fsync on, the default), creates
// the accounts and serves IMAP on addr with cleartext login allowed, and
// implicit TLS (IMAPS) on -tls-addr when a certificate is given. load
// speaks cleartext, or implicit TLS with -tls (the certificate is not
// verified).
// load first APPENDs M messages from DIR (CRLF-normalised) into every
// account's INBOX from N concurrent clients, then each client runs R
// rounds of: LOGIN, SELECT INBOX, FETCH headers of every message, FETCH 20
// full bodies, STORE +FLAGS on 20, SEARCH (flag and header keys), STORE
// \Deleted on 2 and EXPUNGE, UNSELECT, LOGOUT (LOGIN/LOGOUT once per
// client with -login-per-round=false). It prints both phases' rates.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/engine"
	tmimap "github.com/tidemark/tidemark/mailserver/imap"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: imapbench serve|load|compare|fill [flags]")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "load":
		load(os.Args[2:])
	case "compare":
		compare(os.Args[2:])
	case "fill":
		fill(os.Args[2:])
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

// fill APPENDs total messages from a maildir tree (cycling through them)
// to clients accounts at once, one session each: a quick way to give a
// running server a backlog, e.g. for its backup scanner.
func fill(args []string) {
	fs := flag.NewFlagSet("fill", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:27143", "server address")
	dir := fs.String("dir", "", "maildir tree whose new/ messages are stored")
	userFmt := fs.String("user-fmt", "f%d@example.com", "account name of client i")
	password := fs.String("password", "benchpass", "password of every account")
	clients := fs.Int("clients", 8, "accounts filled at once")
	total := fs.Int("total", 100000, "messages stored in all")
	fs.Parse(args)
	msgs := readTree(*dir)
	t0 := time.Now()
	run(*clients, func(i int) error {
		n := *total / *clients
		if i < *total%*clients {
			n++
		}
		return appendCycle(*addr, fmt.Sprintf(*userFmt, i), *password, msgs, n)
	})
	fmt.Printf("stored %d messages in %.1fs\n", *total, time.Since(t0).Seconds())
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	data := fs.String("data", "", "data directory")
	addr := fs.String("addr", "127.0.0.1:27143", "listen address")
	accounts := fs.Int("accounts", 8, "accounts to create")
	userFmt := fs.String("user-fmt", "bench%d@example.com", "account address formats, comma separated")
	password := fs.String("password", "bench", "password of every account")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here until interrupted")
	memProfile := fs.String("memprofile", "", "write a heap profile here when interrupted")
	tlsAddr := fs.String("tls-addr", "", "implicit-TLS listen address (needs -tls-cert and -tls-key)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate for -tls-addr")
	tlsKey := fs.String("tls-key", "", "PEM private key for -tls-addr")
	metaCache := fs.Int64("meta-cache", 0, "Pebble block cache bytes (0: engine default)")
	memtable := fs.Int64("memtable", 0, "Pebble memtable bytes (0: engine default)")
	headerCache := fs.Int("header-cache", 0, "header cache bytes (0: engine default, -1 off)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (heap and CPU profiles while running)")
	fs.Parse(args)
	if *pprofAddr != "" {
		go func() { log.Print(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	ctx := context.Background()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	eng, err := engine.Open(*data, &engine.Options{PebbleCacheSize: *metaCache, PebbleMemTableSize: *memtable, HeaderCacheSize: *headerCache, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	if err := eng.CreateDomain(ctx, "example.com"); err != nil {
		log.Fatal(err)
	}
	for _, f := range strings.Split(*userFmt, ",") {
		for i := 0; i < *accounts; i++ {
			if _, err := eng.CreateAccount(ctx, engine.AccountSpec{Address: fmt.Sprintf(f, i), Password: *password}); err != nil {
				log.Fatal(err)
			}
		}
	}
	opts := &tmimap.Options{AllowInsecureAuth: true, MaxConnsPerAccount: -1, MaxConnectionsPerIP: -1}
	if *tlsAddr != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			log.Fatal(err)
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	srv := tmimap.NewServer(eng, opts)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	if *tlsAddr != "" {
		tl, err := net.Listen("tcp", *tlsAddr)
		if err != nil {
			log.Fatal(err)
		}
		go srv.ServeTLS(tl)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, os.Kill)
	<-sig
	if *memProfile != "" {
		if f, err := os.Create(*memProfile); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	srv.Close()
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:27143", "server address")
	clients := fs.Int("clients", 8, "concurrent clients, one account each")
	userFmt := fs.String("user-fmt", "bench%d@example.com", "account address format")
	password := fs.String("password", "bench", "password")
	dir := fs.String("msgs", "", "directory of message files")
	n := fs.Int("n", 300, "messages per account")
	rounds := fs.Int("rounds", 20, "workload rounds per client")
	relogin := fs.Bool("login-per-round", true, "open, log in and log out in every round (else one session per client)")
	useTLS := fs.Bool("tls", false, "connect with implicit TLS (IMAPS), certificate not verified")
	fs.Parse(args)
	dialTLS = *useTLS

	msgs := readMessages(*dir, *n)
	var bytes int64
	for _, m := range msgs {
		bytes += int64(len(m))
	}
	start := time.Now()
	run(*clients, func(i int) error { return appendAll(*addr, fmt.Sprintf(*userFmt, i), *password, msgs) })
	appendSecs := time.Since(start).Seconds()
	total := float64(*clients * len(msgs))
	tlsNote := ""
	if dialTLS {
		tlsNote = " (implicit TLS)"
	}
	fmt.Printf("append%s: %d clients x %d msgs (%.1f MB each) in %.2fs = %.0f msgs/s\n",
		tlsNote, *clients, len(msgs), float64(bytes)/1e6, appendSecs, total/appendSecs)

	lat := make([][]time.Duration, *clients)
	start = time.Now()
	run(*clients, func(i int) error {
		user := fmt.Sprintf(*userFmt, i)
		var c *imapclient.Client
		for r := 0; r < *rounds; r++ {
			t0 := time.Now()
			if c == nil {
				var err error
				if c, err = dial(*addr, user, *password); err != nil {
					return err
				}
			}
			if err := round(c, r); err != nil {
				return err
			}
			if *relogin {
				if err := c.Logout().Wait(); err != nil {
					return err
				}
				c.Close()
				c = nil
			}
			lat[i] = append(lat[i], time.Since(t0))
		}
		if c != nil {
			c.Logout().Wait()
			c.Close()
		}
		return nil
	})
	secs := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	mode := "login per round"
	if !*relogin {
		mode = "one session per client"
	}
	if dialTLS {
		mode += ", implicit TLS"
	}
	fmt.Printf("workload (%s): %d clients x %d rounds in %.2fs = %.1f rounds/s, round latency p50 %v p95 %v\n",
		mode, *clients, *rounds, secs, float64(len(all))/secs,
		all[len(all)/2].Round(time.Millisecond), all[len(all)*95/100].Round(time.Millisecond))
}

func run(clients int, f func(i int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := f(i); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		log.Fatal(err)
	}
}

func readMessages(dir string, n int) [][]byte {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		log.Fatalf("no messages in %s", dir)
	}
	sort.Strings(files)
	if len(files) > n {
		files = files[:n]
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		out = append(out, crlf(b))
	}
	return out
}

func crlf(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+len(msg)/32)
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// dialTLS makes dial use implicit TLS (load -tls).
var dialTLS bool

func dial(addr, user, pw string) (*imapclient.Client, error) {
	var c *imapclient.Client
	var err error
	if dialTLS {
		c, err = imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	} else {
		c, err = imapclient.DialInsecure(addr, nil)
	}
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, pw).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login %s: %w", user, err)
	}
	return c, nil
}

func appendAll(addr, user, pw string, msgs [][]byte) error {
	c, err := dial(addr, user, pw)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, m := range msgs {
		cmd := c.Append("INBOX", int64(len(m)), nil)
		if _, err := cmd.Write(m); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		if _, err := cmd.Wait(); err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
	return c.Logout().Wait()
}

// round is one pass of the workload on a logged-in session.
func round(c *imapclient.Client, r int) error {
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return err
	}
	if sel.NumMessages == 0 {
		return fmt.Errorf("empty INBOX")
	}
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true,
		HeaderFields: []string{"From", "To", "Subject", "Date", "Message-ID"}}
	if _, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, RFC822Size: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{hdr},
	}).Collect(); err != nil {
		return fmt.Errorf("fetch headers: %w", err)
	}
	var set imap.SeqSet
	for k := 0; k < 20; k++ {
		set.AddNum(uint32((r*37+k*13)%int(sel.NumMessages)) + 1)
	}
	if _, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		return fmt.Errorf("fetch bodies: %w", err)
	}
	if _, err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}, NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait(); err != nil {
		return fmt.Errorf("search flags: %w", err)
	}
	if _, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "re"}}}, nil).Wait(); err != nil {
		return fmt.Errorf("search subject: %w", err)
	}
	del := imap.SeqSetNum(uint32(r%int(sel.NumMessages))+1, uint32((r*7+3)%int(sel.NumMessages))+1)
	if _, err := c.Store(del, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		return fmt.Errorf("store deleted: %w", err)
	}
	if _, err := c.Expunge().Collect(); err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return c.Unselect().Wait()
}
