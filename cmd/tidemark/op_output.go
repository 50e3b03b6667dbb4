package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/importer"
	"github.com/tidemark/tidemark/operations"
	"github.com/tidemark/tidemark/restore"
)

func printOpList(w io.Writer, l opsList) error {
	if len(l.Paused) > 0 {
		var ls []string
		for _, p := range l.Paused {
			ls = append(ls, string(p))
		}
		fmt.Fprintf(w, "held queues: %s (tidemark op resume --lane ...)\n", strings.Join(ls, ", "))
	}
	var rows [][]string
	for _, op := range l.Operations {
		when := op.Submitted
		if !op.Started.IsZero() {
			when = op.Started
		}
		detail := operations.FormatProgress(op.Progress)
		if op.State.Ended() && op.Error != "" {
			detail = op.Error
		}
		by := op.Schedule
		if by == "" {
			by = "-"
		}
		rows = append(rows, []string{strconv64(op.ID), op.Kind, string(op.State), string(op.Lane),
			when.Local().Format("2006-01-02 15:04:05"), by, oneLine(detail, 80)})
	}
	return table(w, []string{"ID", "KIND", "STATE", "QUEUE", "STARTED/QUEUED", "SCHEDULE", "PROGRESS/ERROR"}, rows)
}

func strconv64(n uint64) string { return fmt.Sprintf("%d", n) }

func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// printOutcome prints an ended operation: as printOp, or with
// o.reportOnly its report alone (JSON with o.json).
func printOutcome(w io.Writer, op operations.Operation, o opOptions) error {
	switch {
	case o.reportOnly && o.json && len(op.Report) > 0:
		var b bytes.Buffer
		if err := json.Indent(&b, op.Report, "", "  "); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	case o.json:
		return printJSON(w, op)
	case o.reportOnly && len(op.Report) > 0:
		_, err := fmt.Fprint(w, reportText(op))
		return err
	case o.reportOnly:
		return nil // the error says what happened
	}
	printOp(w, op)
	return nil
}

// printOp prints an operation for people: its state, times, progress and
// report.
func printOp(w io.Writer, op operations.Operation) {
	fmt.Fprintf(w, "operation %d (%s): %s\n", op.ID, op.Kind, op.State)
	row := func(k, v string) { fmt.Fprintf(w, "  %-10s %s\n", k+":", v) }
	if len(op.Params) > 0 && string(op.Params) != "{}" {
		row("parameters", string(op.Params))
	}
	if op.Schedule != "" {
		row("schedule", op.Schedule)
	}
	if op.ResubmitOf != 0 {
		row("repeats", fmt.Sprintf("operation %d", op.ResubmitOf))
	}
	row("queued", op.Submitted.Local().Format(time.RFC3339))
	if !op.Started.IsZero() {
		row("started", op.Started.Local().Format(time.RFC3339))
	}
	if !op.Ended.IsZero() {
		d := ""
		if !op.Started.IsZero() {
			d = " (" + op.Ended.Sub(op.Started).Round(time.Millisecond).String() + ")"
		}
		row("ended", op.Ended.Local().Format(time.RFC3339)+d)
	}
	if op.State != operations.Queued {
		row("progress", operations.FormatProgress(op.Progress))
	}
	if op.Error != "" {
		row("error", op.Error)
	}
	if len(op.Report) > 0 {
		fmt.Fprint(w, reportText(op))
	}
}

// reportText renders a report for people, in the words the commands used
// before they became operations; kinds without their own words get JSON.
func reportText(op operations.Operation) string {
	if s, ok := hsmReportText(op); ok {
		return s
	}
	switch op.Kind {
	case kindBackupScan:
		var rep scanner.ScanReport
		if json.Unmarshal(op.Report, &rep) == nil {
			return fmt.Sprintf("scanned %d accounts at lsn %d: %d changes, %d blobs copied\n", rep.Accounts, rep.LSN, rep.Changes, rep.Blobs)
		}
	case kindImport:
		var rep importer.Report
		if json.Unmarshal(op.Report, &rep) == nil {
			return rep.String()
		}
	case kindRestoreAccount, kindRestoreUndelete, kindRestoreItem, kindRestoreDeletedAccount, kindRestoreExternal:
		var rep restoreHSMReport
		if json.Unmarshal(op.Report, &rep) == nil {
			s := rep.String()
			if rep.HSM != nil {
				s += fmt.Sprintf("HSM policy: moved %d restored blob(s), %s, to %s\n", rep.HSM.Blobs, formatBytes(rep.HSM.Bytes), rep.HSM.To)
			}
			return s
		}
	case kindBackupVerify:
		var rep maint.VerifyReport
		if json.Unmarshal(op.Report, &rep) == nil {
			s := fmt.Sprintf("checked %d segments, %d scans, %d snapshots, %d blobs\n", rep.Segments, rep.Scans, rep.Snapshots, rep.Blobs)
			for _, p := range rep.Problems {
				fixed := ""
				if p.Fixed {
					fixed = " (fixed)"
				}
				s += fmt.Sprintf("%s %s: %s%s\n", p.Kind, p.Object, p.Detail, fixed)
			}
			if len(rep.Problems) == 0 {
				s += "no problems found\n"
			}
			return s
		}
	case kindBackupExport:
		var rep restore.ExportReport
		if json.Unmarshal(op.Report, &rep) == nil {
			s := fmt.Sprintf("exported (repository %s) as of %s\n", rep.Repository, rep.At.Local().Format(timeLayout))
			s += fmt.Sprintf("  domains: %s\n  accounts: %d, folders: %d, items: %d (%s), blobs: %d (%s stored), records: %d in %d segments\n",
				strings.Join(rep.Domains, ", "), len(rep.Accounts), rep.Folders, rep.Items, formatBytes(rep.RawBytes),
				rep.Blobs, formatBytes(rep.StoredBytes), rep.Records, rep.Segments)
			for _, f := range rep.Unrestored {
				s += fmt.Sprintf("  left out: item %d in %q: %s\n", f.Item, f.Folder, f.Reason)
			}
			return s
		}
	case kindBackupPurge:
		var rep purgeReport
		if json.Unmarshal(op.Report, &rep) == nil {
			if rep.Note != "" {
				return rep.Note + "\n"
			}
			return fmt.Sprintf("purged %d items (%d versions) deleted more than %d days ago; wrote snapshot %s\n"+
				"to delete after the grace period (so a copy of the repository taken meanwhile stays restorable):\n"+
				"  %d segments and %d older snapshots folded into the snapshot, %d blobs no longer referenced, %d packs rewritten or emptied\n"+
				"deleted now, their grace period over: %d objects\n",
				rep.Items, rep.Versions, rep.Days, rep.Snapshot, rep.Segments, rep.Snapshots, rep.Blobs, rep.Packs, rep.Deleted)
		}
	}
	var b bytes.Buffer
	if json.Indent(&b, op.Report, "", "  ") != nil {
		return string(op.Report) + "\n"
	}
	return "report:\n" + b.String() + "\n"
}

// progressPrinter shows a running operation's progress on stderr: a bar
// redrawn in place on a terminal, plain lines (at most one a second)
// otherwise. With JSON output it stays quiet but for plain lines.
type progressPrinter struct {
	w     io.Writer
	tty   bool
	last  time.Time
	line  string
	drawn bool
}

func newProgressPrinter(w io.Writer, jsonOut bool) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok && !jsonOut {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressPrinter{w: w, tty: tty}
}

func (p *progressPrinter) update(op operations.Operation) {
	var line string
	switch op.State {
	case operations.Queued:
		line = fmt.Sprintf("operation %d (%s) queued", op.ID, op.Kind)
	case operations.Running:
		line = fmt.Sprintf("operation %d (%s) running: %s", op.ID, op.Kind, operations.FormatProgress(op.Progress))
		if p.tty {
			line = fmt.Sprintf("operation %d %s %s", op.ID, bar(op.Progress.Fraction(), 24), operations.FormatProgress(op.Progress))
		}
	default:
		return // the end is printed by the caller
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	if line == p.line || time.Since(p.last) < time.Second && op.State == operations.Running && p.line != "" &&
		strings.HasPrefix(p.line, fmt.Sprintf("operation %d (%s) running", op.ID, op.Kind)) {
		return
	}
	p.line, p.last = line, time.Now()
	fmt.Fprintln(p.w, line)
}

func (p *progressPrinter) finish() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// bar draws f (0..1; negative: unknown) in width cells.
func bar(f float64, width int) string {
	if f < 0 {
		return "[" + strings.Repeat("?", width) + "]"
	}
	n := int(f * float64(width))
	return fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("#", n), strings.Repeat(".", width-n), f*100)
}
