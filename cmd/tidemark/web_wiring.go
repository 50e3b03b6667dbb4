package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/volopen"
	"github.com/tidemark/tidemark/operations"
	"github.com/tidemark/tidemark/restore"
	"github.com/tidemark/tidemark/web"
)

// httpConfig is [http]: the listener of /metrics, /healthz, /readyz and
// the dashboard.
type httpConfig struct {
	Listen string `toml:"listen"` // empty disables it
	// TLS serves HTTPS with the IMAP certificate (imap.cert, imap.key).
	// Browsers keep the dashboard's Secure session cookie only over
	// HTTPS or from a loopback address.
	TLS bool `toml:"tls"`
	// Dashboard false serves /metrics and the health endpoints only.
	Dashboard bool `toml:"dashboard"`
}

func defaultHTTP() httpConfig {
	return httpConfig{Listen: "127.0.0.1:7071", Dashboard: true}
}

func (h httpConfig) validate() error {
	if h.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		return fmt.Errorf("http.listen: %q is not host:port: %w", h.Listen, err)
	}
	return nil
}

// adminAttr is the account attribute that lets an account log in to the
// dashboard (tidemark account modify ADDRESS --admin).
const adminAttr = "admin"

// timelineLimit bounds the item versions one timeline reads.
const timelineLimit = 200000

// observedEngineOptions feeds the redo log's hooks to m.
func observedEngineOptions(m *web.Metrics) func(*engine.Options) {
	return func(o *engine.Options) {
		o.RedoLog.OnAppend = m.RedoAppended
		o.RedoLog.OnSync = m.RedoSynced
	}
}

// serveBackend is the running server as the web package sees it.
type serveBackend struct {
	dataDir string
	cfg     config
	eng     *engine.Engine
	backup  *backup.Service // nil: backup off
	where   string          // the repository
	ops     *operations.Manager

	ready     atomic.Bool
	listeners atomic.Pointer[string]

	volMu  sync.Mutex
	volAt  time.Time
	volLSN uint64
	vols   []web.Volume
}

var _ web.Backend = (*serveBackend)(nil)

// listening marks the listeners of cfg open (they stay so while serve
// runs: it stops when one of them fails).
func (s *serveBackend) listening(cfg config) {
	var addrs []string
	for _, a := range [][2]string{{"lmtp", cfg.LMTP.Listen}, {"imap", cfg.IMAP.Listen}, {"imaps", cfg.IMAP.TLSListen},
		{"socketmap", cfg.Socketmap.Listen}} {
		if a[1] != "" {
			addrs = append(addrs, a[0]+" "+a[1])
		}
	}
	l := strings.Join(addrs, ", ")
	s.listeners.Store(&l)
	s.ready.Store(true)
}

func (s *serveBackend) Health(ctx context.Context) []web.Check {
	var out []web.Check
	if err := s.eng.Err(); err != nil {
		out = append(out, web.Check{Name: "redo log and projection", Status: web.CheckDown,
			Detail: err.Error() + "; restart the server (it replays the redo log)"})
	} else {
		out = append(out, web.Check{Name: "redo log and projection", Status: web.CheckOK,
			Detail: fmt.Sprintf("log at lsn %d, applied %d", s.eng.LogLastLSN(), s.eng.AppliedLSN())})
	}
	if s.ready.Load() {
		out = append(out, web.Check{Name: "listeners", Status: web.CheckOK, Detail: *s.listeners.Load()})
	} else {
		out = append(out, web.Check{Name: "listeners", Status: web.CheckDown, Detail: "not open yet (starting)"})
	}
	b := s.Backup(ctx)
	switch {
	case !b.Enabled:
		out = append(out, web.Check{Name: "backup", Status: web.CheckDegraded, Detail: "the real-time backup is off"})
	case b.State == "running":
		out = append(out, web.Check{Name: "backup", Status: web.CheckOK,
			Detail: fmt.Sprintf("lag %d records, %.1f s", b.LagRecords, b.LagSeconds)})
	default:
		d := b.State
		if b.LastError != "" {
			d += ": " + b.LastError
		}
		out = append(out, web.Check{Name: "backup", Status: web.CheckDegraded,
			Detail: d + "; mail is still accepted and kept until the backup ships it"})
	}
	return out
}

func (s *serveBackend) Backup(ctx context.Context) web.BackupStatus {
	if s.backup == nil {
		return web.BackupStatus{}
	}
	st := s.backup.Status(ctx, false)
	return web.BackupStatus{Enabled: true, State: st.State, LastError: st.LastError, ShippedLSN: st.ShippedLSN,
		ShippedTime: st.ShippedTime, LagRecords: st.LagRecords, LagSeconds: st.LagSeconds,
		RepositoryBytes: st.RepositoryBytes, DedupRatio: st.DedupRatio, CompressionRatio: st.CompressionRatio,
		FiguresTime: st.FiguresTime, Repository: s.where}
}

// The volume figures are reused, since computing them walks every blob
// record and lists every volume: for volumeCacheMaxAge, or for
// volumeCacheMinAge when the mailbox changed since.
const (
	volumeCacheMinAge = 5 * time.Second
	volumeCacheMaxAge = 30 * time.Second
)

// Volumes lists the registered volumes with the engine's figures
// (Engine.VolumeStats, at most every volumeCacheMinAge, one computation at
// a time) and the backup repository with its size from the backup's
// figures.
func (s *serveBackend) Volumes(ctx context.Context) ([]web.Volume, error) {
	vols, err := s.hsmVolumes(ctx)
	if s.backup != nil {
		b := s.Backup(ctx)
		repo := web.Volume{Name: "backup", Tier: "backup repository", Type: "local", Where: s.where,
			Blobs: -1, RawBytes: -1, Objects: -1, FreeBytes: -1, StoredBytes: b.RepositoryBytes}
		if strings.HasPrefix(s.where, "s3://") {
			repo.Type = "s3"
		} else if free, ok := fsFree(s.where); ok {
			repo.FreeBytes = free
		}
		if b.FiguresTime.IsZero() {
			repo.Error = "size not known yet"
			if b.LastError != "" {
				repo.Error = b.LastError
			}
		}
		vols = append(vols, repo)
	}
	return vols, err
}

func (s *serveBackend) hsmVolumes(ctx context.Context) ([]web.Volume, error) {
	s.volMu.Lock()
	defer s.volMu.Unlock()
	age, lsn := time.Since(s.volAt), s.eng.AppliedLSN()
	if s.vols != nil && (age < volumeCacheMinAge || age < volumeCacheMaxAge && lsn == s.volLSN) {
		return s.vols, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	infos, err := s.eng.Volumes(ctx)
	if err != nil {
		return s.vols, err
	}
	stats, err := s.eng.VolumeStats(ctx)
	if err != nil {
		return s.vols, err
	}
	where := map[string]string{}
	for _, v := range infos {
		where[v.Name] = volumeWhere(s.dataDir, v.Spec)
	}
	out := make([]web.Volume, len(stats))
	for i, st := range stats {
		out[i] = web.Volume{Name: st.Name, Tier: st.Kind, Type: st.Type, Current: st.Current, Where: where[st.Name],
			Blobs: st.Blobs, RawBytes: st.Bytes, StoredBytes: st.StoredBytes, Objects: st.Objects, FreeBytes: st.FreeBytes, Error: st.Error}
	}
	s.vols, s.volAt, s.volLSN = out, time.Now(), lsn
	return out, nil
}

// volumeWhere names where a volume stores.
func volumeWhere(dataDir string, sp hsm.Spec) string {
	if sp.S3 != nil {
		return "s3://" + sp.S3.Bucket + "/" + sp.S3.Prefix
	}
	return volopen.Dir(volopen.Env{DataDir: dataDir}, sp)
}

// fsFree is the free space of the file system holding path.
func fsFree(path string) (int64, bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return 0, false
	}
	return int64(st.Bavail) * st.Bsize, true
}

func (s *serveBackend) Authenticate(ctx context.Context, address, password string) error {
	a, err := s.eng.Authenticate(ctx, address, password)
	if err != nil {
		return err
	}
	if a.Attrs[adminAttr] != "true" {
		return web.ErrNotAdmin
	}
	return nil
}

// catalog returns the backup catalog (readable while the repository is
// unreachable: it is local).
func (s *serveBackend) catalog() (*catalog.Catalog, error) {
	if s.backup == nil {
		return nil, errors.New("the real-time backup is off on this server")
	}
	return s.backup.Catalog(), nil
}

func (s *serveBackend) Accounts(ctx context.Context) ([]web.AccountRef, error) {
	cat, err := s.catalog()
	if err != nil {
		return nil, err
	}
	vs, err := cat.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.AccountRef, 0, len(vs))
	for _, v := range vs {
		out = append(out, web.AccountRef{Address: v.Account.Address, Deleted: v.Gone()})
	}
	slices.SortFunc(out, func(a, b web.AccountRef) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

// findAccount returns the catalog id of the account whose newest version
// has address (a live one before a deleted one).
func findAccount(ctx context.Context, cat *catalog.Catalog, address string) (uint64, error) {
	vs, err := cat.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	var id uint64
	for _, v := range vs {
		if strings.EqualFold(v.Account.Address, address) && (id == 0 || !v.Gone()) {
			id = v.Account.ID
		}
	}
	if id == 0 {
		return 0, fmt.Errorf("the backup holds no account %s", address)
	}
	return id, nil
}

// Timeline builds an account's history from the catalog: the message
// count after every record that changed it, the deletions, and the
// account as of at.
func (s *serveBackend) Timeline(ctx context.Context, address string, at time.Time) (web.Timeline, error) {
	cat, err := s.catalog()
	if err != nil {
		return web.Timeline{}, err
	}
	id, err := findAccount(ctx, cat, address)
	if err != nil {
		return web.Timeline{}, err
	}
	avs, err := cat.AccountVersions(ctx, id)
	if err != nil {
		return web.Timeline{}, err
	}
	t := web.Timeline{Account: address, Created: avs[0].Time, Earliest: avs[0].Time, Deleted: avs[len(avs)-1].Gone(), At: at}
	if _, ns, err := cat.Position(); err == nil && ns > 0 {
		t.Latest = time.Unix(0, ns).UTC()
	}
	vs, truncated, err := cat.AccountHistory(ctx, id, timelineLimit)
	if err != nil {
		return web.Timeline{}, err
	}
	t.Truncated = truncated
	t.Steps = steps(vs)
	if truncated && !t.Deleted && len(t.Steps) > 0 {
		// The oldest items are left out: anchor the counts on the
		// account as it is now.
		if now, err := cat.AccountAt(ctx, id, t.Latest); err == nil {
			last := t.Steps[len(t.Steps)-1]
			dn, db := len(now.Items)-last.Messages, sumSizes(now.Items)-last.Bytes
			for i := range t.Steps {
				t.Steps[i].Messages += dn
				t.Steps[i].Bytes += db
			}
		}
	}
	// The deletions are the history's deleted versions (no scan of the
	// server-wide deletion index), each with the path its folder had just
	// before the first deletion from it (one lookup per folder).
	paths := map[uint64]string{}
	for _, v := range vs {
		if !v.Deleted {
			continue
		}
		p, ok := paths[v.Folder]
		if !ok {
			p = folderPathAt(ctx, cat, id, v.Folder, v.Time.Add(-time.Nanosecond))
			paths[v.Folder] = p
		}
		t.Deletions = append(t.Deletions, web.Deletion{Time: v.Time, Folder: p, Size: v.Size, UID: v.UID})
	}
	slices.SortStableFunc(t.Deletions, func(a, b web.Deletion) int { return a.Time.Compare(b.Time) })
	if !at.IsZero() {
		st, err := cat.AccountAt(ctx, id, at)
		switch {
		case errors.Is(err, repository.ErrNotFound):
			t.AtNote = fmt.Sprintf("%s did not exist at %s (or was deleted): restore account --at would find nothing then.", address, at.UTC().Format(time.RFC3339))
		case err != nil:
			return web.Timeline{}, err
		default:
			snap := &web.Snapshot{}
			idx := map[string]int{}
			for _, f := range st.Folders {
				idx[f.Path] = len(snap.Folders)
				snap.Folders = append(snap.Folders, web.FolderCount{Path: f.Path})
			}
			for _, it := range st.Items {
				i, ok := idx[it.FolderPath]
				if !ok {
					idx[it.FolderPath] = len(snap.Folders)
					i = len(snap.Folders)
					snap.Folders = append(snap.Folders, web.FolderCount{Path: it.FolderPath})
				}
				snap.Folders[i].Messages++
				snap.Folders[i].Bytes += it.Size
				snap.Messages++
				snap.Bytes += it.Size
			}
			t.AtState = snap
			if at.After(t.Latest) {
				t.AtNote = "That is after the last record the backup holds: the restore brings back the account as of " + t.Latest.Format(time.RFC3339) + "."
			}
		}
	}
	return t, nil
}

// folderPathAt is a folder's path as of t, "" when unknown.
func folderPathAt(ctx context.Context, cat *catalog.Catalog, acct, folder uint64, t time.Time) string {
	fs, err := cat.FoldersAt(ctx, acct, t)
	if err != nil {
		return ""
	}
	for _, f := range fs {
		if f.ID == folder {
			return f.Path
		}
	}
	return ""
}

func sumSizes(items []catalog.ItemVersion) int64 {
	var n int64
	for _, it := range items {
		n += it.Size
	}
	return n
}

// steps turns item versions (grouped by item, oldest first) into the
// account's live message count and bytes after each record that changed
// them.
func steps(vs []catalog.ItemVersion) []web.Step {
	type delta struct {
		lsn uint64
		t   time.Time
		n   int
		b   int64
	}
	var ds []delta
	for i, v := range vs {
		wasLive, prevSize := false, int64(0)
		if i > 0 && vs[i-1].ID == v.ID {
			wasLive, prevSize = !vs[i-1].Deleted, vs[i-1].Size
		}
		switch {
		case !wasLive && !v.Deleted:
			ds = append(ds, delta{v.LSN, v.Time, 1, v.Size})
		case wasLive && v.Deleted:
			ds = append(ds, delta{v.LSN, v.Time, -1, -prevSize})
		}
	}
	slices.SortStableFunc(ds, func(a, b delta) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return cmpU64(a.lsn, b.lsn)
	})
	var out []web.Step
	n, b := 0, int64(0)
	for i, d := range ds {
		n, b = n+d.n, b+d.b
		if i+1 < len(ds) && ds[i+1].lsn == d.lsn {
			continue // one record, one step
		}
		out = append(out, web.Step{Time: d.t, Messages: n, Bytes: b})
	}
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SubmitRestore queues restore.account (into a new account) or
// restore.undelete, with the parameters the CLI would give.
func (s *serveBackend) SubmitRestore(ctx context.Context, r web.RestoreRequest) (operations.Operation, error) {
	var kind string
	var params any
	timeOr := func(t time.Time, word string) string {
		if t.IsZero() {
			return word
		}
		return opTimeString(t)
	}
	switch r.Mode {
	case "into":
		kind, params = kindRestoreAccount, restoreAccountParams{Account: r.Account, At: timeOr(r.At, "last"), Into: strings.ToLower(r.Into)}
	case "undelete":
		kind, params = kindRestoreUndelete, restoreUndeleteParams{Account: r.Account, From: timeOr(r.From, "first"),
			To: timeOr(r.To, "last"), Folder: restore.RestoredPrefix + time.Now().Format("2006-01-02 15:04:05")}
	default:
		return operations.Operation{}, fmt.Errorf("unknown restore mode %q", r.Mode)
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return operations.Operation{}, err
	}
	return s.ops.Submit(operations.Request{Kind: kind, Params: raw})
}

// startWeb serves [http]; the returned function stops it.
// With http.listen empty it does nothing.
func startWeb(dataDir string, cfg config, m *web.Metrics, b *serveBackend, log *slog.Logger) (func(), error) {
	if cfg.HTTP.Listen == "" {
		return func() {}, nil
	}
	o := web.Options{Source: b, Metrics: m, Ops: b.ops, Logger: log, Now: time.Now}
	if cfg.HTTP.Dashboard {
		o.Backend = b
	}
	m.Watch(b, b.ops)
	srv, err := web.New(o)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	scheme := "http"
	if cfg.HTTP.TLS {
		cert, err := tls.LoadX509KeyPair(resolve(dataDir, cfg.IMAP.Cert), resolve(dataDir, cfg.IMAP.Key))
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("http TLS certificate: %w", err)
		}
		l, scheme = tls.NewListener(l, serverTLSConfig(cert)), "https"
	}
	log.Info("HTTP listening", "addr", l.Addr().String(), "url", scheme+"://"+l.Addr().String()+"/", "dashboard", cfg.HTTP.Dashboard)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}, nil
}
