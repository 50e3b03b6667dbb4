package restore

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/tidemark/tidemark/restore/internal/oracle"
)

var (
	ctx        = context.Background()
	trialsFlag = flag.Int("restore.trials", 0, "point-in-time restore trials of the oracle test (default 300, 60 with -short)")
	quiet      = oracle.Quiet
)

// The rig, the random histories and the mailbox comparison are the oracle's
// (restore/internal/oracle), shared with the backup view's tests.
type (
	rig     = oracle.Rig
	history = oracle.History
	mailbox = oracle.Mailbox
	msg     = oracle.Msg
)

var (
	newRig     = oracle.NewRig
	newRigWith = oracle.NewRigWith
	dump       = oracle.Dump
	diff       = oracle.Diff
)

// restorerOf is a Restorer over the rig's engine, catalog and repository.
func restorerOf(r *rig) *Restorer {
	return New(r.Eng, r.Cat, r.Repo, &Options{Now: r.Clk.Now, Logger: quiet, Location: time.UTC})
}

var errSkip = errors.New("skip")
