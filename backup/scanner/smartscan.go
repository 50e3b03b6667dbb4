package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
	"github.com/tidemark/tidemark/backup/maint"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/redolog"
)

// ScanReport says what a SmartScan found.
type ScanReport struct {
	LSN      uint64 // the engine position the scan describes
	Accounts int    // accounts compared
	Changes  int    // corrections written (0: the catalog already matched)
	Blobs    int    // blobs copied
	Object   string // the scan object written, "" when nothing changed
}

// Scan runs a SmartScan: it brings the catalog level with the log as far
// as the log reaches, then compares the engine's current state (through
// the scanner's Source) with the catalog and writes the differences as a
// scan object: missing accounts, folders and items (copying their blobs),
// changed ones, and as deleted what the engine no longer has. account 0
// scans every account (and marks accounts the engine no longer has
// deleted); a scan that finds nothing writes nothing.
func (s *Scanner) Scan(ctx context.Context, account uint64) (ScanReport, error) {
	return s.ScanWith(ctx, account, nil)
}

// ScanWith is Scan reporting the accounts compared of those to compare to
// progress.
func (s *Scanner) ScanWith(ctx context.Context, account uint64, progress maint.ProgressFunc) (ScanReport, error) {
	if s.src == nil {
		return ScanReport{}, errors.New("scanner: no SmartScan source")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rep, err := s.scanLocked(ctx, account, progress)
	if err == nil && account == 0 {
		s.scanDue.Store(false)
		if err := s.cat.ScanDone(); err != nil {
			return rep, err
		}
	}
	return rep, err
}

// drainTo processes log records up to lsn (0: the end of the log) and
// reports whether the log still held the records after the position.
func (s *Scanner) drainTo(ctx context.Context, lsn uint64) (bool, error) {
	if lsn != 0 && lsn <= s.processed {
		return true, nil
	}
	rd, err := s.log.NewReader(s.processed + 1)
	if repository.IsTruncated(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("scanner: read log: %w", err)
	}
	defer rd.Close()
	for {
		rec, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if repository.IsTruncated(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if lsn != 0 && rec.LSN > lsn {
			return true, nil
		}
		if err := s.process(ctx, rec); err != nil {
			return false, err
		}
	}
}

// view is one account as the engine had it at lsn.
type view struct {
	lsn     uint64
	cos     []event.COS
	account event.Account
	folders []repository.ScanFolder
	items   []repository.ScanItem
	subs    []string
}

// readView reads an account until AppliedLSN does not move across the read.
func (s *Scanner) readView(ctx context.Context, acct event.Account) (view, error) {
	var v view
	for attempt := 0; ; attempt++ {
		l0 := s.src.AppliedLSN()
		cos, err := s.src.ListCOS(ctx)
		if err != nil {
			return v, err
		}
		folders, err := s.src.ListFolders(ctx, acct.ID)
		if err != nil {
			return v, err
		}
		items, err := s.src.ListItems(ctx, acct.ID)
		if err != nil {
			return v, err
		}
		subs, err := s.src.SubscribedNames(ctx, acct.ID)
		if err != nil {
			return v, err
		}
		v = view{lsn: l0, cos: cos, account: acct, folders: folders, items: items, subs: subs}
		if s.src.AppliedLSN() == l0 || attempt >= 200 {
			return v, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Scanner) scanLocked(ctx context.Context, only uint64, progress maint.ProgressFunc) (ScanReport, error) {
	var rep ScanReport
	held, err := s.drainTo(ctx, 0)
	if err != nil {
		return rep, err
	}
	if err := s.ship(ctx); err != nil {
		return rep, err
	}
	accounts, err := s.src.ListAccounts(ctx)
	if err != nil {
		return rep, fmt.Errorf("smartscan: list accounts: %w", err)
	}
	// Accounts are compared one by one, each against the catalog at the
	// LSN its view was read at; views at the same LSN share a scan object.
	sc := &scanBatch{s: s, at: s.processed}
	sc.begin()
	seen := map[uint64]bool{}
	total := int64(len(accounts))
	if only != 0 {
		total = 1
	}
	progress.Report(maint.Progress{Step: "comparing accounts", ItemsTotal: total})
	for _, a := range accounts {
		if only != 0 && a.ID != only {
			continue
		}
		seen[a.ID] = true
		v, err := s.readView(ctx, a)
		if err == nil && v.lsn < s.processed {
			v, err = s.waitView(ctx, a)
		}
		if err != nil {
			return rep, fmt.Errorf("smartscan: account %d: %w", a.ID, err)
		}
		if v.lsn > sc.at {
			if err := sc.flush(ctx, &rep); err != nil {
				return rep, err
			}
			if ok, err := s.drainTo(ctx, v.lsn); err != nil {
				return rep, err
			} else if !ok || v.lsn > s.processed {
				s.processed = v.lsn // the log no longer holds the gap: the scan covers it
			}
			if err := s.ship(ctx); err != nil {
				return rep, err
			}
			sc.at = v.lsn
			sc.begin()
		}
		rep.Accounts++
		if err := s.diffAccount(ctx, v, sc.emit, &rep); err != nil {
			return rep, err
		}
		progress.Report(maint.Progress{Step: "comparing accounts", Items: int64(rep.Accounts), ItemsTotal: total})
	}
	if only == 0 {
		heads, err := s.cat.Accounts(ctx)
		if err != nil {
			return rep, err
		}
		for _, h := range heads {
			if !seen[h.Account.ID] && !h.Deleted {
				if err := sc.emit(repository.ScanAccount{Account: h.Account, Deleted: true}); err != nil {
					return rep, err
				}
			}
		}
	}
	rep.LSN = sc.at
	if err := sc.flush(ctx, &rep); err != nil {
		return rep, err
	}
	if !held && len(seen) == 0 {
		// No account view moved the position past the records the log no
		// longer holds (trimmed, or lost in a recorded gap): move it to the
		// engine's, or tailing would ask for them, and scan, again and again.
		if at := s.src.AppliedLSN(); at > s.processed {
			s.processed = at
			return rep, s.ship(ctx)
		}
	}
	return rep, nil
}

// scanBatch gathers the corrections of accounts read at one LSN.
type scanBatch struct {
	s        *Scanner
	at       uint64
	scanTime int64
	recs     []redolog.Record
}

func (b *scanBatch) begin() {
	s := b.s
	if s.tx != nil {
		s.tx.Close()
	}
	s.tx = s.cat.NewTxn()
	s.batchBlob = map[dedup.Digest]bool{}
	b.recs = nil
	b.scanTime = s.o.Now().UnixNano()
	if b.scanTime <= s.lastTime {
		b.scanTime = s.lastTime + 1
	}
}

// emit applies one correction and keeps it if it changed the catalog.
func (b *scanBatch) emit(v any) error {
	t, payload := repository.EncodeScan(v)
	rec := redolog.Record{LSN: b.at, Time: b.scanTime, Type: t, Payload: payload}
	before := b.s.tx.Count()
	if err := b.s.tx.Apply(rec); err != nil {
		return err
	}
	if b.s.tx.Count() != before {
		b.recs = append(b.recs, rec)
	}
	return nil
}

// flush ships the scan object (if anything changed) and commits the
// catalog at (at, scanTime).
func (b *scanBatch) flush(ctx context.Context, rep *ScanReport) error {
	s := b.s
	if err := s.waitUploads(ctx); err != nil {
		return err
	}
	pos := repository.Position{LSN: b.at, Time: s.lastTime}
	if err := s.checkOwner(ctx); err != nil {
		return err
	}
	if len(b.recs) > 0 {
		name := repository.ScanName(b.at, b.scanTime)
		obj := repository.EncodeRecords(repository.KindScan, b.at, b.at, b.recs)
		if err := s.retry(ctx, "put scan", func() error { return s.repo.PutObject(ctx, name, obj) }); err != nil {
			return err
		}
		rep.Object = name
		rep.Changes += len(b.recs)
		pos.ScanTime, pos.Time = b.scanTime, b.scanTime
		s.lastTime = b.scanTime
		s.stats.scans.Add(1)
	} else if b.at == s.pos.LSN {
		s.tx.Close()
		s.tx = nil
		return nil
	}
	s.processed = b.at
	err := s.commit(pos)
	s.tx.Close()
	s.tx = nil
	return err
}

// waitView waits for the engine to apply what the scanner has read.
func (s *Scanner) waitView(ctx context.Context, a event.Account) (view, error) {
	for i := 0; ; i++ {
		v, err := s.readView(ctx, a)
		if err != nil || v.lsn >= s.processed {
			return v, err
		}
		if i > 400 {
			return v, fmt.Errorf("smartscan: engine applied lsn %d stays behind the log's %d", v.lsn, s.processed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// diffAccount emits the corrections that make the catalog match v.
func (s *Scanner) diffAccount(ctx context.Context, v view, emit func(any) error, rep *ScanReport) error {
	backup := map[string]bool{}
	for _, c := range v.cos {
		backup[c.Name] = c.Backup
		if err := emit(repository.ScanCOS{COS: c}); err != nil {
			return err
		}
	}
	a := v.account
	head, ok, err := s.tx.AccountHead(a.ID)
	if err != nil {
		return err
	}
	if ok {
		// The engine does not list every provisioning field: keep the
		// catalog's for those it leaves empty.
		if a.PasswordHash == "" {
			a.PasswordHash = head.Account.PasswordHash
		}
		if a.Created == 0 {
			a.Created = head.Account.Created
		}
	}
	excluded := false
	if b, known := backup[a.COS]; known && !b {
		excluded = true
	}
	if err := emit(repository.ScanAccount{Account: a, Excluded: excluded}); err != nil {
		return err
	}
	if excluded {
		return nil
	}
	have := map[uint64]bool{}
	for _, f := range v.folders {
		f.Account, f.Deleted = a.ID, false
		have[f.Folder] = true
		if err := emit(f); err != nil {
			return err
		}
	}
	var gone []repository.ScanFolder
	if err := s.tx.FolderHeads(a.ID, func(id uint64, r catalog.FolderRec) error {
		if !r.Deleted && !have[id] {
			gone = append(gone, repository.ScanFolder{Account: a.ID, Folder: id, Parent: r.Parent, Name: r.Name,
				SpecialUse: r.SpecialUse, UIDValidity: r.UIDValidity, Subscribed: r.Subscribed, Deleted: true})
		}
		return nil
	}); err != nil {
		return err
	}
	haveItem := map[uint64]bool{}
	for _, it := range v.items {
		it.Account, it.Deleted = a.ID, false
		haveItem[it.Item] = true
		d := dedup.Digest(it.Digest)
		if !s.batchBlob[d] {
			if ok, err := s.tx.HasBlob(d); err != nil {
				return err
			} else if !ok {
				if err := s.copyBlob(ctx, repository.BlobRef{Digest: d, Size: it.Size, Account: a.ID, Item: it.Item}, nil); err != nil {
					return fmt.Errorf("smartscan: account %d item %d: %w", a.ID, it.Item, err)
				}
				rep.Blobs++
			}
		}
		if err := emit(it); err != nil {
			return err
		}
	}
	var goneItems []repository.ScanItem
	if err := s.tx.ItemHeads(a.ID, func(id uint64, r catalog.ItemRec) error {
		if !r.Deleted && !haveItem[id] {
			goneItems = append(goneItems, repository.ScanItem{Account: a.ID, Item: id, Folder: r.Folder, UID: r.UID, Flags: r.Flags,
				InternalDate: r.InternalDate, Digest: r.Digest, Size: r.Size, Type: event.ItemType(r.Type), Deleted: true})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, it := range goneItems {
		if err := emit(it); err != nil {
			return err
		}
	}
	for _, f := range gone {
		if err := emit(f); err != nil {
			return err
		}
	}
	return emit(repository.ScanSubscriptions{Account: a.ID, Names: v.subs})
}
