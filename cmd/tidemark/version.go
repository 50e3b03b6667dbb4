package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm/packvol"
	"github.com/tidemark/tidemark/redolog"
)

// version and commit may be set at link time:
//
//	go build -ldflags "-X main.version=1.2.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/tidemark
//
// Otherwise they come from the module and VCS information Go embeds in
// the binary (debug.ReadBuildInfo).
var (
	version = ""
	commit  = ""
)

func init() { commands = append(commands, newVersionCommand) }

// buildInfo is what `tidemark version` reports.
type buildInfo struct {
	Version   string  `json:"version"`
	Commit    string  `json:"commit"`
	Modified  bool    `json:"modified"` // built from a tree with uncommitted changes
	BuildTime string  `json:"commit_time,omitempty"`
	Go        string  `json:"go"`
	Formats   formats `json:"formats"`
}

// formats are the on-disk formats this binary reads and writes, taken
// from the packages that own them.
type formats struct {
	RedoLogMagic      string `json:"redo_log_magic"`
	RedoLogVersion    int    `json:"redo_log_version"`     // record segments written
	RedoLogMaxVersion int    `json:"redo_log_max_version"` // newest read (gap segments)
	EventVersion      int    `json:"event_version"`        // redo record payload codec
	PrimaryPackMagic  string `json:"primary_pack_magic"`
	PrimaryPackVer    int    `json:"primary_pack_version"`
	PrimaryIndexVer   int    `json:"primary_index_checkpoint_version"` // written; 1 is read too
	BackupRepository  int    `json:"backup_repository_format"`         // newest; older ones are read
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version(), Formats: formats{
		RedoLogMagic: redolog.SegmentMagic, RedoLogVersion: redolog.FormatVersion,
		RedoLogMaxVersion: redolog.GapFormatVersion, EventVersion: int(event.Version),
		PrimaryPackMagic: packvol.PackMagic, PrimaryPackVer: packvol.PackVersion,
		PrimaryIndexVer:  packvol.CheckpointVersion,
		BackupRepository: repository.FormatVersion,
	}}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				b.BuildTime = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func (b buildInfo) write(w io.Writer) {
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "tidemark %s\n", b.Version)
	fmt.Fprintf(w, "  commit             %s\n", commit)
	if b.BuildTime != "" {
		fmt.Fprintf(w, "  commit time        %s\n", b.BuildTime)
	}
	fmt.Fprintf(w, "  go                 %s\n", b.Go)
	f := b.Formats
	fmt.Fprintf(w, "  redo log           %q segments version %d (reads up to %d), event payloads version %d\n",
		f.RedoLogMagic, f.RedoLogVersion, f.RedoLogMaxVersion, f.EventVersion)
	fmt.Fprintf(w, "  primary volume     %q packs version %d, index checkpoint version %d (reads 1 to %d)\n",
		f.PrimaryPackMagic, f.PrimaryPackVer, f.PrimaryIndexVer, f.PrimaryIndexVer)
	fmt.Fprintf(w, "  backup repository  format %d (reads 1 to %d)\n", f.BackupRepository, f.BackupRepository)
}

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and the on-disk formats this binary supports",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b := currentBuild()
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			}
			b.write(c.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
