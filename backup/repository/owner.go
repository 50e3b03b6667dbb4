package repository

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/redolog"
)

// A repository belongs to one server history: the owner record
// (owner.json) names the server (the random id its data directory holds)
// and the epoch of its claim. A server ships only to a repository it owns
// at the epoch its data directory records, and only when the repository's
// shipped history is a prefix of its redo log; otherwise it refuses
// (Refusal), and the server keeps taking mail and keeps the redo records
// the backup would need. Claims:
//
//   - a repository without records and without owner is claimed by the
//     first server that ships to it (epoch 1);
//   - a repository written before owner records existed is adopted by the
//     first server whose redo log continues its history;
//   - take-ownership (and restore server, which rebuilds a server from the
//     repository's end) claims the next epoch explicitly; the previous
//     owner is refused from then on.
//
// A claim writes the data directory's identity first and the owner record
// second, so a crash between them leaves the data directory ahead (the next
// claim takes the same epoch again), never a repository owned by an epoch
// no data directory holds. Two servers claiming one fresh repository at the
// same moment both write owner.json; the last write wins, and the other
// server is refused at its next ship (every ship reads the owner record
// first).

// OwnerName is the owner record, the only object replaced in place
// (hsm.Volume.Put replaces atomically).
const OwnerName = "owner.json"

// maxPreviousOwners bounds the history kept in the owner record.
const maxPreviousOwners = 16

// historyWindow bounds how many redo records the history check reads.
const historyWindow = 8192

// ErrNotOwner marks a refusal to ship: the repository belongs to another
// server history. Errors satisfying it are *Refusal.
var ErrNotOwner = errors.New("backup: repository belongs to another server history")

// Identity is a server's identity, kept in its data directory: a random
// id chosen when the directory was created, and the claim it holds (the
// repository id and epoch of its last claim).
type Identity struct {
	Server     string    `json:"server"`
	Created    time.Time `json:"created"`
	Repository string    `json:"repository,omitempty"`
	Epoch      uint64    `json:"epoch,omitempty"`
}

// NewIdentity returns a new identity with a random 128-bit id.
func NewIdentity(now time.Time) (Identity, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Identity{}, fmt.Errorf("new server identity: %w", err)
	}
	return Identity{Server: hex.EncodeToString(b[:]), Created: now.UTC()}, nil
}

// Owner is the content of owner.json.
type Owner struct {
	Server  string    `json:"server"`
	Epoch   uint64    `json:"epoch"`
	Claimed time.Time `json:"claimed"`
	How     string    `json:"how"`            // ClaimNew, ClaimAdopt, ClaimTakeOver, ClaimRestore
	Host    string    `json:"host,omitempty"` // informational: where the claimer ran
	Data    string    `json:"data,omitempty"` // informational: its data directory
	// Previous lists the earlier owners, newest first (at most 16).
	Previous []Owner `json:"previous,omitempty"`
}

// How a claim came about.
const (
	ClaimNew      = "new repository"
	ClaimAdopt    = "adopted (repository without owner record)"
	ClaimTakeOver = "take-ownership"
	ClaimRestore  = "restore server"
)

func (o Owner) String() string {
	s := fmt.Sprintf("server %s epoch %d (%s, %s", o.Server, o.Epoch, o.How, o.Claimed.Format(time.RFC3339))
	if o.Host != "" {
		s += ", host " + o.Host
	}
	if o.Data != "" {
		s += ", data " + o.Data
	}
	return s + ")"
}

// ClaimInfo describes the claimer for the owner record.
type ClaimInfo struct {
	How  string
	Host string
	Data string
	Now  time.Time
}

// Refusal says why a server may not ship to a repository.
type Refusal struct {
	// Reason says what does not match, in a sentence.
	Reason string `json:"reason"`
	// Owner is the repository's owner record, if it has one.
	Owner *Owner `json:"owner,omitempty"`
	// CanTakeOwnership is true when this server's redo log continues the
	// repository's history, so take-ownership would let it ship again;
	// false when only a new repository resolves the refusal.
	CanTakeOwnership bool `json:"can_take_ownership"`
}

func (r *Refusal) Error() string { return "backup: not shipping: " + r.Reason }

// Unwrap makes a Refusal satisfy errors.Is(err, ErrNotOwner).
func (r *Refusal) Unwrap() error { return ErrNotOwner }

// Owner reads the repository's owner record; ok is false when it has none.
func (r *Repository) Owner(ctx context.Context) (o Owner, ok bool, err error) {
	b, err := hsm.ReadAll(ctx, r.vol, OwnerName)
	if hsm.IsNotFound(err) {
		return Owner{}, false, nil
	}
	if err != nil {
		return Owner{}, false, fmt.Errorf("read owner record: %w", err)
	}
	if len(b) > 1<<20 {
		return Owner{}, false, fmt.Errorf("%s: %w: %d bytes", OwnerName, ErrCorrupt, len(b))
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return Owner{}, false, fmt.Errorf("%s: %w: %v", OwnerName, ErrCorrupt, err)
	}
	if o.Server == "" || o.Epoch == 0 {
		return Owner{}, false, fmt.Errorf("%s: %w: no server or epoch", OwnerName, ErrCorrupt)
	}
	return o, true, nil
}

// owns reports whether id holds the repository's current claim.
func (r *Repository) owns(id Identity, o Owner) bool {
	return o.Server == id.Server && o.Epoch == id.Epoch && id.Repository == r.ID()
}

// CheckOwner decides whether the server id, whose redo log is hist, may
// ship to r. It returns "" when id owns r; ClaimNew or ClaimAdopt when r
// has no owner and id may claim it (Claim does); an error satisfying
// ErrNotOwner (a *Refusal) when it must not ship; another error when the
// repository or the log could not be read. note, when not empty, says what
// could not be compared (a log already trimmed past the repository's end).
func (r *Repository) CheckOwner(ctx context.Context, id Identity, hist History) (claim, note string, err error) {
	o, has, err := r.Owner(ctx)
	if err != nil {
		return "", "", err
	}
	if has && r.owns(id, o) {
		// The history check catches a copy of this data directory that
		// went its own way (same identity, another log).
		ok, _, detail, err := r.continues(ctx, hist)
		if err != nil {
			return "", "", err
		}
		if !ok {
			return "", "", &Refusal{Reason: "this server owns the repository but its redo log does not continue what the repository holds: " + detail +
				" (a copy of this data directory, or one restored from an older copy, has written another history)", Owner: &o}
		}
		return "", noteOf(detail), nil
	}
	ok, end, detail, err := r.continues(ctx, hist)
	if err != nil {
		return "", "", err
	}
	if !has {
		if !ok {
			return "", "", &Refusal{Reason: "the repository has no owner record and this server's redo log does not continue its history: " + detail +
				" (it was written by another server, or by this one before its data directory was lost)"}
		}
		if end == 0 {
			return ClaimNew, "", nil
		}
		return ClaimAdopt, noteOf(detail), nil
	}
	var reason string
	switch {
	case o.Server != id.Server:
		reason = "the repository belongs to another server: " + o.String()
	case id.Repository != r.ID():
		reason = fmt.Sprintf("the repository belongs to this server at epoch %d, but this data directory's last claim was on another repository (%s); the repository may hold records this server did not write",
			o.Epoch, orNone(id.Repository))
	default:
		reason = fmt.Sprintf("the repository belongs to this server at epoch %d, but this data directory holds epoch %d: it is a copy that another claim has since replaced", o.Epoch, id.Epoch)
	}
	if ok {
		reason += "; this server's redo log continues the repository's history, so taking ownership lets it ship again (the current owner is refused from then on)"
	} else {
		reason += "; this server's redo log does not continue the repository's history (" + detail + "), so only a new repository resolves it"
	}
	return "", "", &Refusal{Reason: reason, Owner: &o, CanTakeOwnership: ok}
}

func noteOf(detail string) string {
	if detail == "" {
		return ""
	}
	return "history not compared: " + detail
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Claim makes id the owner of r at the next epoch and returns id holding
// that claim. save persists the returned identity; it is called before
// the owner record is written. Claim reads the record back and fails with a
// Refusal if another claim won a race.
func (r *Repository) Claim(ctx context.Context, id Identity, info ClaimInfo, save func(Identity) error) (Identity, Owner, error) {
	prev, has, err := r.Owner(ctx)
	if err != nil {
		return id, Owner{}, err
	}
	o := Owner{Server: id.Server, Epoch: 1, Claimed: info.Now.UTC(), How: info.How, Host: info.Host, Data: info.Data}
	if has {
		o.Epoch = prev.Epoch + 1
		p := prev
		p.Previous = nil
		o.Previous = append([]Owner{p}, prev.Previous...)
		if len(o.Previous) > maxPreviousOwners {
			o.Previous = o.Previous[:maxPreviousOwners]
		}
	}
	id.Repository, id.Epoch = r.ID(), o.Epoch
	if err := save(id); err != nil {
		return id, Owner{}, fmt.Errorf("claim repository: save server identity: %w", err)
	}
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return id, Owner{}, err
	}
	if err := hsm.PutBytes(ctx, r.vol, OwnerName, append(b, '\n')); err != nil {
		return id, Owner{}, fmt.Errorf("claim repository: %w", err)
	}
	got, _, err := r.Owner(ctx)
	if err != nil {
		return id, Owner{}, err
	}
	if !r.owns(id, got) {
		return id, got, &Refusal{Reason: "another server claimed the repository at the same time: " + got.String(), Owner: &got}
	}
	return id, got, nil
}

// CheckStillOwner fails with a Refusal when id no longer owns r (a
// take-ownership elsewhere); the scanner calls it before every object
// that extends the history.
func (r *Repository) CheckStillOwner(ctx context.Context, id Identity) error {
	o, has, err := r.Owner(ctx)
	if err != nil {
		return err
	}
	if !has {
		return &Refusal{Reason: "the repository's owner record disappeared; this server no longer ships to it until it claims it again"}
	}
	if !r.owns(id, o) {
		return &Refusal{Reason: "the repository was claimed by " + o.String() + "; this server no longer ships to it", Owner: &o}
	}
	return nil
}

// End returns the last position the repository's history covers (segments
// and scan objects), 0 for a repository that holds no records.
func (r *Repository) End(ctx context.Context) (uint64, error) {
	segs, err := r.Segments(ctx)
	if err != nil {
		return 0, err
	}
	scans, err := r.Scans(ctx)
	if err != nil {
		return 0, err
	}
	var end uint64
	for _, s := range append(segs, scans...) {
		end = max(end, s.Last)
	}
	return end, nil
}

// continues reports whether hist continues the repository's history: the
// log reaches the repository's end and, where it still holds the newest
// segment's range, holds a record with that segment's last record time
// (record times are unix nanoseconds, so another history has other ones).
// end is the repository's end; detail says what differs, or, with ok,
// what could not be compared.
func (r *Repository) continues(ctx context.Context, hist History) (ok bool, end uint64, detail string, err error) {
	segs, err := r.Segments(ctx)
	if err != nil {
		return false, 0, "", err
	}
	scans, err := r.Scans(ctx)
	if err != nil {
		return false, 0, "", err
	}
	var newest *SegmentInfo
	for i := range segs {
		if newest == nil || segs[i].Last > newest.Last || (segs[i].Last == newest.Last && segs[i].First < newest.First) {
			newest = &segs[i]
		}
		end = max(end, segs[i].Last)
	}
	for _, s := range scans {
		end = max(end, s.Last)
	}
	if end == 0 {
		return true, 0, "", nil
	}
	var h Header
	if newest != nil {
		if h, err = r.readHeader(ctx, newest.Name); err != nil {
			return false, end, "", err
		}
	}
	from := uint64(1)
	if newest != nil {
		from = max(h.First, h.Last-min(h.Last, historyWindow-1))
	}
	rd, err := hist.NewReader(from)
	if IsTruncated(err) {
		rd, err = hist.NewReader(0)
	}
	if err != nil {
		return false, end, "", fmt.Errorf("read redo log: %w", err)
	}
	defer rd.Close()
	var first, last uint64
	found, lastInGap := false, false
	for last < end {
		rec, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if ge, ok := errors.AsType[*redolog.GapError](err); ok {
			// Records lost in a recorded gap (redolog repair --accept-gap):
			// the log gave out those LSNs, so it still reaches past them,
			// but they cannot be compared.
			if first == 0 {
				first = ge.Gap.From
			}
			last = ge.Gap.To
			lastInGap = lastInGap || newest != nil && h.Last >= ge.Gap.From && h.Last <= ge.Gap.To
			continue
		}
		if err != nil {
			return false, end, "", fmt.Errorf("read redo log: %w", err)
		}
		if first == 0 {
			first = rec.LSN
		}
		last = rec.LSN
		if newest != nil && rec.LSN >= h.First && rec.LSN <= h.Last && rec.Time == h.LastTime {
			found = true
		}
	}
	switch {
	case first == 0:
		return false, end, fmt.Sprintf("the repository holds records up to lsn %d, this server's redo log holds none from lsn %d on", end, from), nil
	case last < end && first <= end:
		return false, end, fmt.Sprintf("the repository holds records up to lsn %d, this server's redo log ends at lsn %d", end, last), nil
	case first > end+1:
		return true, end, fmt.Sprintf("the redo log starts at lsn %d, after the repository's end (lsn %d)", first, end), nil
	case newest == nil || h.Count == 0:
		return true, end, "", nil
	case first > h.Last:
		return true, end, fmt.Sprintf("the redo log no longer holds lsn %d", h.Last), nil
	case !found && lastInGap:
		return true, end, fmt.Sprintf("lsn %d is in a recorded gap of the redo log: not compared", h.Last), nil
	case !found && from == h.First && first <= from:
		return false, end, fmt.Sprintf("the repository's records %d-%d were not written by this server (no record of its time %s)",
			h.First, h.Last, time.Unix(0, h.LastTime).UTC().Format(time.RFC3339Nano)), nil
	case !found:
		return true, end, fmt.Sprintf("lsn %d-%d not compared", h.First, h.Last), nil
	}
	return true, end, "", nil
}

// readHeader reads the header of a segment or scan object with one ranged
// read.
func (r *Repository) readHeader(ctx context.Context, name string) (Header, error) {
	rc, err := r.vol.GetRange(ctx, name, 0, ObjHeaderSize)
	if err != nil {
		return Header{}, fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	b := make([]byte, ObjHeaderSize)
	if _, err := io.ReadFull(rc, b); err != nil {
		return Header{}, fmt.Errorf("read %s: %w: %v", name, ErrCorrupt, err)
	}
	h, err := DecodeHeader(b)
	if err != nil {
		return Header{}, fmt.Errorf("read %s: %w", name, err)
	}
	return h, nil
}

// Own checks that id owns repo, claiming a repository without owner when
// hist continues its history (a new repository, or one written before
// owner records existed). It returns the identity holding the claim
// (written to dir's IdentityFile when the claim changed it), or a
// *Refusal. info stamps a claim; where names the repository in log.
func Own(ctx context.Context, repo *Repository, id Identity, hist History, info func(how string) ClaimInfo, dir, where string, log *slog.Logger) (Identity, error) {
	claim, note, err := repo.CheckOwner(ctx, id, hist)
	if err != nil {
		return id, err
	}
	if note != "" {
		log.Info("backup repository ownership: "+note, "repository", where)
	}
	if claim == "" {
		return id, nil
	}
	nid, o, err := repo.Claim(ctx, id, info(claim), func(id Identity) error { return SaveIdentity(dir, id) })
	if err != nil {
		return id, err
	}
	if claim == ClaimAdopt {
		log.Warn("backup repository had no owner record (written by an older tidemark) and its history is a prefix of this server's redo log: this server adopts it",
			"repository", where, "server", o.Server, "epoch", o.Epoch)
	} else {
		log.Info("backup repository claimed by this server", "repository", where, "server", o.Server, "epoch", o.Epoch, "how", o.How)
	}
	return nid, nil
}

// TakeOwnership claims repo for id at the next epoch, provided hist
// continues the repository's history; the new identity is written to
// dir's IdentityFile. A repository that cannot be taken over fails with
// its *Refusal (CanTakeOwnership false); one id already owns is left as
// it is.
func TakeOwnership(ctx context.Context, repo *Repository, id Identity, hist History, info ClaimInfo, dir string) (Owner, error) {
	claim, _, err := repo.CheckOwner(ctx, id, hist)
	if err == nil && claim == "" {
		o, _, err := repo.Owner(ctx)
		return o, err // already the owner: nothing to take
	}
	if r, ok := errors.AsType[*Refusal](err); ok && !r.CanTakeOwnership {
		return Owner{}, r
	} else if err != nil && !ok {
		return Owner{}, err
	}
	_, o, err := repo.Claim(ctx, id, info, func(id Identity) error { return SaveIdentity(dir, id) })
	return o, err
}

// ContinuedBy reports whether a server rebuilt from repo up to lastLSN
// continues its history. One history per repository (ARCHITECTURE
// invariant 11): a server rebuilt to an earlier point than the
// repository's end, or whose redo log had to be renumbered (gaps closed,
// SmartScan corrections written as records), would write records at
// positions the repository already holds for the old history, so it must
// back up to a new repository.
func (r *Repository) ContinuedBy(ctx context.Context, lastLSN uint64, renumbered bool) (bool, error) {
	end, err := r.End(ctx)
	if err != nil {
		return false, err
	}
	return lastLSN >= end && !renumbered, nil
}
