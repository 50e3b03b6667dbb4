package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// logSettings are the root's --log-level and --log-format: every command
// logs to standard error with them.
type logSettings struct {
	level  string // "" takes the command's default
	format string // "text" or "json"
}

var logFlags logSettings

func addLogFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&logFlags.level, "log-level", "", "log level: debug, info, warn or error (default info for serve, warn for other commands)")
	pf.StringVar(&logFlags.format, "log-format", "text", "log format on standard error: text (key=value) or json (one object a line)")
}

// checkLogFlags rejects values newLogger would not understand.
func checkLogFlags() error {
	if _, err := parseLevel(logFlags.level, slog.LevelInfo); err != nil {
		return err
	}
	switch logFlags.format {
	case "text", "json":
		return nil
	}
	return usagef("--log-format must be text or json, not %q", logFlags.format)
}

func parseLevel(s string, def slog.Level) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return def, usagef("--log-level must be debug, info, warn or error, not %q", s)
}

// newLogger returns the logger of a command writing to w: the level of
// --log-level, or def when it is not given, in the format of --log-format.
func newLogger(w io.Writer, def slog.Level) *slog.Logger {
	level, _ := parseLevel(logFlags.level, def) // checked before the command ran
	o := &slog.HandlerOptions{Level: level}
	if logFlags.format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
