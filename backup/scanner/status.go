package scanner

import (
	"context"
	"strings"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/hsm"
)

// Status is what `tidemark backup status` shows.
type Status struct {
	Repository string `json:"repository"`
	// Encryption is "not encrypted", or the scheme and the key in use.
	Encryption  string    `json:"encryption,omitempty"`
	State       string    `json:"state"` // running, disabled, failing, stopped
	LastError   string    `json:"last_error,omitempty"`
	ShippedLSN  uint64    `json:"shipped_lsn"`
	ShippedTime time.Time `json:"shipped_time"`
	LogLastLSN  uint64    `json:"log_last_lsn"`
	LagRecords  uint64    `json:"lag_records"`
	// LagSeconds is the age of the oldest record not yet in the
	// repository (0 when every record is shipped).
	LagSeconds       float64 `json:"lag_seconds"`
	Segments         int     `json:"segments"`
	Scans            int     `json:"scans"`
	Snapshots        int     `json:"snapshots"`
	Blobs            int     `json:"blobs"` // distinct blobs, loose or packed
	Packs            int     `json:"packs"`
	RepositoryBytes  int64   `json:"repository_bytes"`
	BlobBytes        int64   `json:"blob_bytes"`
	LogicalBytes     int64   `json:"logical_bytes"` // raw size of every live item version's message
	UniqueRawBytes   int64   `json:"unique_raw_bytes"`
	DedupRatio       float64 `json:"dedup_ratio"`       // logical / unique raw
	CompressionRatio float64 `json:"compression_ratio"` // unique raw / stored blob bytes
	RetentionDays    int     `json:"retention_days"`
	// FiguresTime is when the sizes, counts and ratios above were
	// computed (Scanner.Status caches them); zero when they are not known.
	FiguresTime time.Time `json:"figures_time,omitempty"`
	// Server and Epoch are this server's identity and claim (backup/repository, owner.go).
	Server string `json:"server,omitempty"`
	Epoch  uint64 `json:"epoch,omitempty"`
	// Refusal is set (State "refused") when the server does not ship
	// because the repository belongs to another server history; Resolve
	// lists the commands that end it.
	Refusal *repository.Refusal `json:"refusal,omitempty"`
	Resolve []string            `json:"resolve,omitempty"`
}

// Live returns the scanner's own view: position, lag and state. It takes
// no lock the scanner holds while a repository write is retried, so it
// answers during an outage.
func (s *Scanner) Live() Status {
	st := Status{Repository: s.repo.ID(), State: "running", ShippedLSN: s.safe.Load()}
	if t := s.shipped.Load(); t > 0 {
		st.ShippedTime = time.Unix(0, t).UTC()
	}
	st.LogLastLSN = s.log.LastLSN()
	if st.LogLastLSN > st.ShippedLSN {
		st.LagRecords = st.LogLastLSN - st.ShippedLSN
		// The oldest unshipped record's age, not the newest shipped
		// one's: on a quiet server the last shipped record may be an hour
		// old while the backup is a millisecond behind. A record the
		// scanner has not read yet (it reads within moments) counts 0.
		if t := s.pending.Load(); t > 0 {
			st.LagSeconds = max(0, s.o.Now().Sub(time.Unix(0, t).UTC()).Seconds())
		}
	}
	if msg := s.failing.Load(); msg != nil {
		st.State, st.LastError = "failing", *msg
	}
	if !s.enabled.Load() {
		st.State = "disabled"
	}
	if msg := s.stopped.Load(); msg != nil {
		st.State, st.LastError = "stopped", *msg
	}
	return st
}

// RepositoryStatus fills in the sizes and ratios of a repository and its
// catalog (a full listing of the repository and a pass over the catalog).
func RepositoryStatus(ctx context.Context, r *repository.Repository, c *catalog.Catalog, st *Status) error {
	st.Repository = r.ID()
	st.Encryption = r.EncryptionStatus()
	err := r.Volume().List(ctx, "", func(o hsm.ObjectInfo) error {
		st.RepositoryBytes += o.Size
		switch {
		case strings.HasPrefix(o.Name, repository.BlobPrefix):
			st.Blobs++
			st.BlobBytes += o.Size
		case strings.HasPrefix(o.Name, repository.PackPrefix):
			st.Packs++
			st.BlobBytes += o.Size
		case len(o.Name) > len(repository.LogPrefix) && o.Name[:len(repository.LogPrefix)] == repository.LogPrefix:
			st.Segments++
		case len(o.Name) > len(repository.ScanPrefix) && o.Name[:len(repository.ScanPrefix)] == repository.ScanPrefix:
			st.Scans++
		case len(o.Name) > len(repository.SnapPrefix) && o.Name[:len(repository.SnapPrefix)] == repository.SnapPrefix:
			st.Snapshots++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if st.Packs > 0 {
		held, err := r.BlobSizes(ctx)
		if err != nil {
			return err
		}
		st.Blobs = len(held)
	}
	if c == nil {
		return nil
	}
	if st.ShippedLSN == 0 {
		lsn, t, err := c.Position()
		if err != nil {
			return err
		}
		st.ShippedLSN = lsn
		if t > 0 {
			st.ShippedTime = time.Unix(0, t).UTC()
		}
	}
	sizes := map[[32]byte]int64{}
	err = c.LiveItems(func(last catalog.ItemRec) {
		st.LogicalBytes += last.Size
		sizes[last.Digest] = last.Size
	})
	if err != nil {
		return err
	}
	for _, n := range sizes {
		st.UniqueRawBytes += n
	}
	if st.UniqueRawBytes > 0 {
		st.DedupRatio = float64(st.LogicalBytes) / float64(st.UniqueRawBytes)
	}
	if st.BlobBytes > 0 {
		st.CompressionRatio = float64(st.UniqueRawBytes) / float64(st.BlobBytes)
	}
	return nil
}
