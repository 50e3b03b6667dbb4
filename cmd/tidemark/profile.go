package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// Profiles of a running server. They are served on the admin socket only
// (mode 0600 in the 0700 data directory), never on the HTTP listener: a
// heap profile names the server's functions and its memory, and a CPU
// profile costs the server while it runs.

// profileKinds are the profiles `tidemark profile` takes. cpu samples for
// a while; the others are a snapshot (heap: memory in use and allocated
// since start; allocs: the same, sampled by allocation).
var profileKinds = []string{"cpu", "heap", "allocs", "goroutine", "mutex", "block", "threadcreate"}

const (
	defaultCPUSeconds = 30
	maxCPUSeconds     = 600
)

func init() { commands = append(commands, newProfileCommand) }

// serveProfile answers GET /debug/pprof/{kind} on the admin socket with a
// profile in pprof's format (gzipped protocol buffers).
func serveProfile(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	if kind == "cpu" {
		secs := defaultCPUSeconds
		if s := r.URL.Query().Get("seconds"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxCPUSeconds {
				http.Error(w, fmt.Sprintf("seconds must be 1 to %d", maxCPUSeconds), http.StatusBadRequest)
				return
			}
			secs = n
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := pprof.StartCPUProfile(w); err != nil {
			// Another CPU profile is running: one at a time.
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		select {
		case <-time.After(time.Duration(secs) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
		return
	}
	p := pprof.Lookup(kind)
	if p == nil {
		http.Error(w, fmt.Sprintf("no profile %q (one of %v)", kind, profileKinds), http.StatusNotFound)
		return
	}
	if kind == "heap" || kind == "allocs" {
		// The figures are those of the last collection; one now makes
		// them current, as net/http/pprof's ?gc=1 does.
		runtime.GC()
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_ = p.WriteTo(w, 0)
}

func newProfileCommand() *cobra.Command {
	var (
		dataDir string
		out     string
		seconds int
	)
	cmd := &cobra.Command{
		Use:   "profile cpu|heap|allocs|goroutine|mutex|block|threadcreate",
		Short: "Take a profile of the running server, for `go tool pprof`",
		Long: `Take a profile of the running server over its admin socket and write it
in pprof's format, to read with ` + "`go tool pprof`" + `. cpu samples for --seconds
(default 30) while the server works; the others are taken at once. heap
shows the memory in use by what allocated it (after a collection).`,
		Example: `  tidemark profile heap -o heap.pprof && go tool pprof -top heap.pprof
  tidemark profile cpu --seconds 60 -o cpu.pprof`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: profileKinds,
		RunE: func(c *cobra.Command, args []string) error {
			kind := args[0]
			if !slices.Contains(profileKinds, kind) {
				return usagef("no profile %q: one of %v", kind, profileKinds)
			}
			if seconds < 1 || seconds > maxCPUSeconds {
				return usagef("--seconds must be 1 to %d", maxCPUSeconds)
			}
			toFile := out != "" && out != "-"
			var w io.Writer = c.OutOrStdout()
			var f *os.File
			if toFile {
				var err error
				if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			ctx, cancel := context.WithTimeout(c.Context(), time.Duration(seconds)*time.Second+time.Minute)
			defer cancel()
			n, err := fetchProfile(ctx, dataDir, kind, seconds, w)
			if err != nil {
				if toFile {
					_ = os.Remove(out)
				}
				return err
			}
			if toFile {
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(c.ErrOrStderr(), "%s profile: %s written to %s\n", kind, formatBytes(n), out)
			}
			return nil
		},
	}
	dataDirFlag(cmd, &dataDir)
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (mode 0600); default standard output")
	cmd.Flags().IntVar(&seconds, "seconds", defaultCPUSeconds, "how long a cpu profile samples")
	return cmd
}

// fetchProfile copies the running server's profile of kind into w.
func fetchProfile(ctx context.Context, dataDir, kind string, seconds int, w io.Writer) (int64, error) {
	path := filepath.Join(dataDir, adminSocket)
	client := adminClient(path)
	url := "http://tidemark/debug/pprof/" + kind
	if kind == "cpu" {
		url += "?seconds=" + strconv.Itoa(seconds)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ns noServerError
		if errors.As(err, &ns) {
			return 0, fmt.Errorf("profile needs a running server (tidemark serve --data %s): %w", dataDir, err)
		}
		return 0, fmt.Errorf("admin socket %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("%s profile: %s: %s", kind, resp.Status, bytes.TrimSpace(msg))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("%s profile: %w", kind, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s profile: the server sent nothing", kind)
	}
	return n, nil
}
