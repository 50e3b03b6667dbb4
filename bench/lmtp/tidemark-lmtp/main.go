// Command tidemark-lmtp serves LMTP over a fresh engine for bench/lmtp/run.sh:
// it opens (or creates) a data directory, provisions one account, serves
// until SIGTERM or SIGINT, then writes the number of messages in that
// account's INBOX to -count-file so the bench can check every delivery
// landed. It is a bench harness, not a server to run mail on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/mailserver/lmtp"
)

func main() {
	data := flag.String("data", "", "data directory (created if missing)")
	addr := flag.String("addr", "127.0.0.1:27025", "LMTP listen address")
	account := flag.String("account", "bench@example.com", "account to create and deliver to")
	countFile := flag.String("count-file", "", "write the INBOX message count here on exit")
	flag.Parse()
	if *data == "" {
		fmt.Fprintln(os.Stderr, "tidemark-lmtp: -data is required")
		os.Exit(2)
	}
	if err := run(*data, *addr, *account, *countFile); err != nil {
		fmt.Fprintln(os.Stderr, "tidemark-lmtp:", err)
		os.Exit(1)
	}
}

func run(data, addr, account, countFile string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := engine.Open(data, &engine.Options{Logger: logger, Now: time.Now})
	if err != nil {
		return err
	}
	defer e.Close()
	ctx := context.Background()
	domain := account[strings.LastIndexByte(account, '@')+1:]
	if err := e.CreateDomain(ctx, domain); err != nil && !errors.Is(err, engine.ErrExists) {
		return err
	}
	acct, err := e.LookupAccount(ctx, account)
	if errors.Is(err, engine.ErrNotFound) {
		acct, err = e.CreateAccount(ctx, engine.AccountSpec{Address: account, Password: "bench"})
	}
	if err != nil {
		return err
	}

	srv := lmtp.NewServer(e, &lmtp.Options{Addr: addr, Logger: logger, Now: time.Now})
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)

	if countFile != "" {
		f, err := e.FolderByPath(ctx, acct.ID, engine.InboxName)
		if err != nil {
			return err
		}
		if err := os.WriteFile(countFile, []byte(fmt.Sprintf("%d\n", f.Messages)), 0o644); err != nil {
			return err
		}
	}
	return e.Close()
}
