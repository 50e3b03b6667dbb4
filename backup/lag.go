package backup

import (
	"context"
	"errors"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/redolog"
)

// MeasureLag fills st's LogLastLSN, LagRecords and LagSeconds from hist, the
// redo log of a server, given st.ShippedLSN and st.ShippedTime: how many
// records the repository lacks and how much older the oldest of them is
// than the newest. Only the records after the shipped position are read.
// Records lost to a gap count as lag (the next SmartScan covers them).
// A log that cannot be read leaves st as it was.
func MeasureLag(ctx context.Context, hist repository.History, st *scanner.Status) {
	rd, err := hist.NewReader(st.ShippedLSN + 1)
	if errors.Is(err, redolog.ErrTruncated) || errors.Is(err, redolog.ErrGap) {
		rd, err = hist.NewReader(0)
	}
	if err != nil {
		return
	}
	defer rd.Close()
	last := redolog.Record{LSN: st.ShippedLSN}
	for {
		r, err := rd.Next(ctx)
		if ge, ok := errors.AsType[*redolog.GapError](err); ok {
			if ge.Gap.To > last.LSN {
				last = redolog.Record{LSN: ge.Gap.To, Time: ge.Gap.Time.UnixNano()}
			}
			continue
		}
		if err != nil {
			break
		}
		last = r
	}
	st.LogLastLSN = last.LSN
	if last.LSN > st.ShippedLSN {
		st.LagRecords = last.LSN - st.ShippedLSN
		st.LagSeconds = time.Unix(0, last.Time).Sub(st.ShippedTime).Seconds()
	}
}

// stalledLag fills st's lag for a server whose scanner does not run, from
// the catalog's position and the log's end at now.
func stalledLag(cat *catalog.Catalog, logLast uint64, now time.Time, st *scanner.Status) {
	if lsn, ns, err := cat.Position(); err == nil {
		st.ShippedLSN = lsn
		if lsn > 0 {
			st.ShippedTime = time.Unix(0, ns).UTC()
		}
	}
	st.LogLastLSN = logLast
	if st.LogLastLSN > st.ShippedLSN {
		st.LagRecords = st.LogLastLSN - st.ShippedLSN
		if !st.ShippedTime.IsZero() {
			st.LagSeconds = now.Sub(st.ShippedTime).Seconds()
		}
	}
}
