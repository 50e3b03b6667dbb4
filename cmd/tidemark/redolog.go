package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tidemark/tidemark/engine/event"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/spf13/cobra"
	"github.com/tidemark/tidemark/internal/timearg"
	"github.com/tidemark/tidemark/redolog"
)

func init() { commands = append(commands, newRedologCommand) }

// describePayload decodes a record payload for dump: a short name and a
// JSON-encodable detail, from the engine's event codec. Tests may set it to
// nil, in which case dump shows the type number and payload size only.
var describePayload func(typ uint16, payload []byte) (name string, detail any) = event.Describe

func newRedologCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "redolog",
		Short: "Inspect a redo log directory (dump, verify) or repair a lost tail (repair)",
	}
	cmd.AddCommand(newRedologDumpCommand(), newRedologVerifyCommand(), newRedologRepairCommand())
	return cmd
}

// redologDumpOptions are the flags of redolog dump.
type redologDumpOptions struct {
	dir          string
	from, to     uint64
	since, until timearg.Point
	json         bool
}

func newRedologDumpCommand() *cobra.Command {
	var o redologDumpOptions
	var since, until string
	cmd := &cobra.Command{
		Use:   "dump DIR",
		Short: "Print the records of a redo log (LSN, time, type, payload size)",
		Long: `Print the records of the redo log in DIR, archived and active segments, in
LSN order, without opening it for write: it is safe on a running server.
Times are UTC. --since and --until take RFC 3339, YYYY-MM-DD[ HH:MM[:SS]]
(local time unless a zone is given), dd/MM/yyyy HH:mm:ss, first or last;
both ends are inclusive.`,
		Args: redologArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = args[0]
			var err error
			if since != "" {
				if o.since, err = timearg.Parse(since, time.Local); err != nil {
					return usagef("--since: %w", err)
				}
			}
			if until != "" {
				if o.until, err = timearg.Parse(until, time.Local); err != nil {
					return usagef("--until: %w", err)
				}
			}
			if o.to != 0 && o.to < o.from {
				return usagef("--to %d is before --from %d", o.to, o.from)
			}
			return runRedologDump(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.from, "from", 0, "first LSN to print (default: the oldest held)")
	f.Uint64Var(&o.to, "to", 0, "last LSN to print (default: the newest)")
	f.StringVar(&since, "since", "", "print records committed at or after this time")
	f.StringVar(&until, "until", "", "print records committed at or before this time")
	f.BoolVar(&o.json, "json", false, "print one JSON object per record")
	return cmd
}

// dumpRecord is one line of dump output.
type dumpRecord struct {
	LSN    uint64 `json:"lsn"`
	Time   string `json:"time"`
	Type   uint16 `json:"type"`
	Size   int    `json:"size"`
	Name   string `json:"name,omitempty"`
	Detail any    `json:"detail,omitempty"`
}

// dumpGap is the JSON line dump prints for a recorded gap.
type dumpGap struct {
	Gap dumpGapRange `json:"gap"`
}

type dumpGapRange struct {
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Time   string `json:"time"`
	Reason string `json:"reason"`
}

func runRedologDump(ctx context.Context, w io.Writer, o redologDumpOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	enc := json.NewEncoder(w)
	printGap := func(g redolog.Gap) error {
		if o.json {
			return enc.Encode(dumpGap{Gap: dumpGapRange{From: g.From, To: g.To,
				Time: g.Time.UTC().Format(time.RFC3339Nano), Reason: g.Reason}})
		}
		_, err := fmt.Fprintf(w, "%d..%d\t%s\tGAP (records lost, recorded by redolog repair --accept-gap)\t%s\n",
			g.From, g.To, g.Time.UTC().Format(time.RFC3339Nano), g.Reason)
		return err
	}
	r, err := redolog.ReadDir(vfs.Default, o.dir, o.from)
	var ge *redolog.GapError
	if errors.As(err, &ge) {
		// --from inside a gap: say so, then go on after it.
		if err := printGap(ge.Gap); err != nil {
			return err
		}
		r, err = redolog.ReadDir(vfs.Default, o.dir, ge.Gap.To+1)
	}
	if err != nil {
		return fmt.Errorf("redolog dump %s: %w", o.dir, err)
	}
	defer r.Close()
	print := func(rec redolog.Record) error {
		d := dumpRecord{LSN: rec.LSN, Time: time.Unix(0, rec.Time).UTC().Format(time.RFC3339Nano), Type: rec.Type, Size: len(rec.Payload)}
		if describePayload != nil {
			d.Name, d.Detail = describePayload(rec.Type, rec.Payload)
		}
		if o.json {
			return enc.Encode(d)
		}
		line := fmt.Sprintf("%d\t%s\ttype=%d\tsize=%d", d.LSN, d.Time, d.Type, d.Size)
		if d.Name != "" {
			line += "\t" + d.Name
		}
		if d.Detail != nil {
			b, err := json.Marshal(d.Detail)
			if err != nil {
				return err
			}
			line += "\t" + string(b)
		}
		_, err := fmt.Fprintln(w, line)
		return err
	}
	// "until first" prints only the oldest record that passes the other
	// filters, "since last" only the newest, which is known at the end.
	var newest *redolog.Record
	for {
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.As(err, &ge) {
			g := ge.Gap
			if o.to != 0 && g.From > o.to || !o.until.Time.IsZero() && g.Time.After(o.until.Time) {
				break
			}
			if !o.since.Time.IsZero() && g.Time.Before(o.since.Time) || o.until.First || o.since.Last {
				continue
			}
			if err := printGap(g); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("redolog dump %s: %w", o.dir, err)
		}
		t := time.Unix(0, rec.Time)
		if o.to != 0 && rec.LSN > o.to || !o.until.Time.IsZero() && t.After(o.until.Time) {
			break // times increase with LSN: nothing later qualifies
		}
		if !o.since.Time.IsZero() && t.Before(o.since.Time) {
			continue
		}
		switch {
		case o.until.First:
			return print(rec)
		case o.since.Last:
			newest = &rec
			continue
		}
		if err := print(rec); err != nil {
			return err
		}
	}
	if newest != nil {
		return print(*newest)
	}
	return nil
}

func newRedologVerifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify DIR",
		Short: "Check every record of every segment of a redo log",
		Long: `Read every segment of the redo log in DIR and check headers, checksums, and
that LSNs are dense and times increase. Exits non-zero if anything is
corrupt. A torn write at the end of the active segment is reported but is
not corruption: the server truncates it when it next opens the log. Gaps
recorded by redolog repair --accept-gap are listed; they are not corruption
either.`,
		Args: redologArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRedologVerify(cmd.OutOrStdout(), args[0])
		},
	}
}

func runRedologVerify(w io.Writer, dir string) error {
	rep, err := redolog.Verify(vfs.Default, dir)
	fmt.Fprintf(w, "segments: %d\nrecords:  %d\n", rep.Segments, rep.Records)
	if rep.Records > 0 {
		fmt.Fprintf(w, "lsn:      %d..%d\n", rep.FirstLSN, rep.LastLSN)
	}
	for _, g := range rep.Gaps {
		fmt.Fprintf(w, "gap:      lsn %d..%d not held, recorded %s: %s\n", g.From, g.To, g.Time.Format(time.RFC3339), g.Reason)
	}
	if rep.TornTail != "" {
		fmt.Fprintf(w, "torn tail (truncated at next open): %s\n", rep.TornTail)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "CORRUPT: %s\n", p)
	}
	if err != nil {
		return fmt.Errorf("redolog verify %s: %w", dir, err)
	}
	fmt.Fprintln(w, "ok")
	return nil
}

// redologArgs is cobra.ExactArgs with the error marked as a usage error.
func redologArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}
