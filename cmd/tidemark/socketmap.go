package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/mailserver/socketmap"
)

// socketmapConfig is [socketmap]: Postfix's recipient lookups
// (mailserver/socketmap, README "Postfix").
type socketmapConfig struct {
	Listen         string `toml:"listen"`          // empty disables; keep it on loopback
	MaxConnections int    `toml:"max_connections"` // open at once; more are closed
}

// startSocketmap listens on cfg.Listen and answers Postfix's lookups from
// eng; errc receives Serve's end. The returned function stops it.
func startSocketmap(cfg socketmapConfig, eng *engine.Engine, log *slog.Logger, errc chan<- error) (func(), error) {
	srv := socketmap.NewServer(eng, &socketmap.Options{MaxConnections: cfg.MaxConnections, Logger: log})
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("socketmap: %w", err)
	}
	log.Info("socketmap listening (Postfix recipient lookups)", "addr", l.Addr().String())
	go func() { errc <- srv.Serve(l) }()
	return func() { srv.Close() }, nil
}
