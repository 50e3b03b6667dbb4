package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// Engine is what an import needs from the engine; *engine.Engine has it.
type Engine interface {
	FolderByPath(ctx context.Context, acct uint64, path string) (engine.Folder, error)
	CreateFolder(ctx context.Context, acct uint64, path, specialUse string) (engine.Folder, error)
	SetSubscriptions(ctx context.Context, acct uint64, names []string, on bool) error
	GetFolder(ctx context.Context, acct, folder uint64) (engine.Folder, error)
	ListItems(ctx context.Context, acct, folder uint64) ([]engine.Item, error)
	AppendMany(ctx context.Context, acct, folder uint64, msgs []engine.NewMessage, reason event.AddReason) ([]engine.Item, []error)
}

var _ Engine = (*engine.Engine)(nil)

// Options configure an import. Zero fields take the defaults below.
type Options struct {
	// Account is the id of the account imported into; AccountName is its
	// address, for the report.
	Account     uint64
	AccountName string
	// StateDir holds the import state files (the CLI uses <data>/import).
	// Empty keeps no state: every run compares with the whole folders.
	StateDir string
	// MaxMessageSize is the engine's limit (storage.max_message_size);
	// larger messages are reported failed without being read. Default
	// engine.DefaultMaxMessageSize.
	MaxMessageSize int64
	// BatchMessages and BatchBytes bound one AppendMany call. Defaults
	// 256 and 8 MiB.
	BatchMessages int
	BatchBytes    int64
	// Progress, when set, is told the position; ProgressEvery bounds how
	// often (default 1 s).
	Progress      Progress
	ProgressEvery time.Duration
	// Now is the clock for rates and the report. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = engine.DefaultMaxMessageSize
	}
	if o.BatchMessages <= 0 {
		o.BatchMessages = 256
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 8 << 20
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// ErrStopped wraps the error that ended an import before the end of its
// source (the source failed, the engine refused, ctx ended). What was
// committed before stays, with its cursor; a rerun continues from there.
var ErrStopped = errors.New("importer: stopped")

// Run imports every folder of src into the account. It returns the report
// and, when the import ended early, an error wrapping ErrStopped (the
// report is then partial and says where it stopped). Messages that fail on
// their own (too large, unreadable) are in the report, not an error.
func Run(ctx context.Context, eng Engine, src Source, o Options) (*Report, error) {
	o = o.withDefaults()
	r := &run{eng: eng, src: src, o: o, store: stateStore{dir: o.StateDir},
		rep: &Report{Source: src.Key(), Account: o.AccountName}, start: o.Now()}
	err := r.all(ctx)
	r.rep.Elapsed = o.Now().Sub(r.start)
	if err != nil {
		r.rep.Stopped = err.Error()
		return r.rep, fmt.Errorf("%w: %w", ErrStopped, err)
	}
	r.report(true)
	return r.rep, nil
}

type run struct {
	eng   Engine
	src   Source
	o     Options
	store stateStore
	st    *state
	rep   *Report

	start      time.Time
	lastReport time.Time
	folder     string
	total      int64 // estimate, -1 unknown
	done       int64
	bytes      int64
}

func (r *run) all(ctx context.Context) error {
	st, err := r.store.load(r.o.Account, r.src.Key())
	if err != nil {
		return err
	}
	r.st = st
	folders, err := r.src.Folders(ctx)
	if err != nil {
		return fmt.Errorf("list folders of %s: %w", r.src.Key(), err)
	}
	for _, f := range folders {
		r.total += f.Messages
	}
	for _, f := range folders {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.importFolder(ctx, f); err != nil {
			return fmt.Errorf("folder %s: %w", f.Name, err)
		}
	}
	return nil
}

// ensureFolder finds or creates the target folder and its parents.
func (r *run) ensureFolder(ctx context.Context, path, specialUse string) (engine.Folder, error) {
	f, err := r.eng.FolderByPath(ctx, r.o.Account, path)
	if err == nil || !errors.Is(err, engine.ErrNotFound) {
		return f, err
	}
	if i := strings.LastIndex(path, engine.PathSep); i > 0 {
		if _, err := r.ensureFolder(ctx, path[:i], ""); err != nil {
			return engine.Folder{}, err
		}
	}
	f, err = r.eng.CreateFolder(ctx, r.o.Account, path, specialUse)
	if err != nil && specialUse != "" && errors.Is(err, engine.ErrInvalid) {
		// The special use is taken by another folder or unknown here.
		f, err = r.eng.CreateFolder(ctx, r.o.Account, path, "")
	}
	if errors.Is(err, engine.ErrExists) {
		return r.eng.FolderByPath(ctx, r.o.Account, path)
	}
	if err != nil {
		return f, err
	}
	// A folder an import creates is subscribed, so that clients showing
	// only subscribed folders (Thunderbird's default) show it.
	if err := r.eng.SetSubscriptions(ctx, r.o.Account, []string{f.Path}, true); err != nil {
		return f, fmt.Errorf("subscribe %s: %w", f.Path, err)
	}
	f.Subscribed = true
	return f, nil
}

// entry is one message of a batch, in source order.
type entry struct {
	id      string
	size    int64
	advance func(*Cursor)
	append  int   // index into batch.msgs, -1 when not appended
	skipped bool  // already in the folder
	failed  error // reported failed without an append
}

type batch struct {
	entries []entry
	msgs    []engine.NewMessage
	bytes   int64
	err     error // the source failed after these entries
}

// contentKey identifies a message for the comparison with the folder.
type contentKey struct {
	d    dedup.Digest
	date int64
}

func (r *run) importFolder(ctx context.Context, f Folder) error {
	fs := r.st.Folders[f.Name]
	if fs == nil {
		fs = &folderState{}
		r.st.Folders[f.Name] = fs
	}
	fr := FolderReport{Source: f.Name, Target: f.Path}
	defer func() { r.rep.Folders = append(r.rep.Folders, fr) }()
	target, err := r.ensureFolder(ctx, f.Path, f.SpecialUse)
	if err != nil {
		r.rep.fail(Failure{Folder: f.Name, Reason: fmt.Sprintf("target folder %q: %v", f.Path, err)})
		fr.Failed++
		r.total -= f.Messages
		return nil
	}
	if target.UIDValidity != fs.TargetValidity {
		fs.TargetValidity, fs.TargetBase = target.UIDValidity, 0
	}
	if f.NoSelect {
		return nil
	}
	rd, err := r.src.Open(ctx, f, fs.Cursor)
	if err != nil {
		return err
	}
	defer rd.Close()
	if rd.Restarted() {
		fs.Cursor, fs.TargetBase = Cursor{}, 0
	}
	if n, _ := rd.Pending(); n >= 0 && r.total >= 0 {
		r.total += n - f.Messages
	}
	r.folder = f.Path

	// What is already in the folder above the base: messages committed
	// after the last saved cursor (an interrupted run), or everything when
	// there is no usable base.
	items, err := r.eng.ListItems(ctx, r.o.Account, target.ID)
	if err != nil {
		return err
	}
	have := map[contentKey]int{}
	for _, it := range items {
		if it.UID >= fs.TargetBase {
			have[contentKey{it.Digest, it.InternalDate.UnixNano()}]++
		}
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *batch, 1)
	go r.produce(pctx, rd, have, batches)
	for b := range batches {
		if err := r.commit(ctx, f, target, fs, b, &fr); err != nil {
			cancel()
			for range batches {
			}
			return err
		}
		if b.err != nil {
			return b.err
		}
	}
	return nil
}

// produce reads the folder and sends batches; it closes out when done.
// A source error travels with the batch of the messages read before it.
func (r *run) produce(ctx context.Context, rd FolderReader, have map[contentKey]int, out chan<- *batch) {
	defer close(out)
	b := &batch{}
	send := func() bool {
		select {
		case out <- b:
			b = &batch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		m, err := rd.Next(ctx)
		if err == io.EOF {
			send()
			return
		}
		if err != nil {
			b.err = err
			send()
			return
		}
		e := entry{id: m.ID, size: m.Size, advance: m.Advance, append: -1}
		switch {
		case m.Err != nil:
			e.failed = m.Err
		case int64(len(m.Body)) > r.o.MaxMessageSize:
			e.failed = fmt.Errorf("%w: %d bytes, limit %d", engine.ErrTooLarge, len(m.Body), r.o.MaxMessageSize)
		default:
			k := contentKey{dedup.Sum(m.Body), m.Date.UnixNano()}
			if have[k] > 0 {
				have[k]--
				e.skipped = true
				break
			}
			e.append = len(b.msgs)
			b.msgs = append(b.msgs, engine.NewMessage{Body: m.Body, Flags: m.Flags, InternalDate: m.Date})
			b.bytes += int64(len(m.Body))
		}
		b.entries = append(b.entries, e)
		if len(b.msgs) >= r.o.BatchMessages || b.bytes >= r.o.BatchBytes || len(b.entries) >= 4*r.o.BatchMessages {
			if !send() {
				return
			}
		}
	}
}

// permanent reports an append error that is the message's own: it is
// reported and passed over. Any other error (quota, storage, a closed
// engine) stops the import before its cursor moves.
func permanent(err error) bool {
	return errors.Is(err, engine.ErrTooLarge) || errors.Is(err, engine.ErrInvalid)
}

// commit appends a batch, counts it, and saves the cursor when every
// message of the batch is settled.
func (r *run) commit(ctx context.Context, f Folder, target engine.Folder, fs *folderState, b *batch, fr *FolderReport) error {
	var errs []error
	if len(b.msgs) > 0 {
		var dropped int
		for i := range b.msgs {
			var n int
			b.msgs[i].Flags, n = cleanFlags(b.msgs[i].Flags)
			dropped += n
		}
		r.rep.FlagsDropped += int64(dropped)
		_, errs = r.eng.AppendMany(ctx, r.o.Account, target.ID, b.msgs, event.AddAppended)
	}
	var stop error
	for _, e := range b.entries {
		r.done++
		r.bytes += e.size
		switch {
		case e.failed != nil:
			fr.Failed++
			r.rep.fail(Failure{Folder: f.Name, Message: e.id, Reason: e.failed.Error()})
		case e.skipped:
			fr.Skipped++
			r.rep.Skipped++
		default:
			err := errs[e.append]
			switch {
			case err == nil:
				fr.Imported++
				r.rep.Imported++
				r.rep.Bytes += int64(len(b.msgs[e.append].Body))
			case permanent(err):
				fr.Failed++
				r.rep.fail(Failure{Folder: f.Name, Message: e.id, Reason: err.Error()})
			default:
				if stop == nil {
					stop = fmt.Errorf("message %s: %w", e.id, err)
				}
			}
		}
	}
	if stop != nil {
		// Messages of this batch that were committed are found by content
		// on the next run: the cursor and base stay where they were.
		return stop
	}
	for _, e := range b.entries {
		if e.advance != nil {
			e.advance(&fs.Cursor)
		}
	}
	now, err := r.eng.GetFolder(ctx, r.o.Account, target.ID)
	if err != nil {
		return err
	}
	fs.TargetBase = now.UIDNext
	if err := r.store.save(r.st); err != nil {
		return err
	}
	r.report(false)
	return nil
}

func (r *run) report(final bool) {
	if r.o.Progress == nil {
		return
	}
	now := r.o.Now()
	if !final && now.Sub(r.lastReport) < r.o.ProgressEvery {
		return
	}
	r.lastReport = now
	s := Status{Folder: r.folder, Messages: r.done, Bytes: r.bytes, TotalMessages: r.total,
		Imported: r.rep.Imported, Skipped: r.rep.Skipped, Failed: r.rep.Failed,
		Elapsed: now.Sub(r.start), ETA: -1}
	if r.total < r.done {
		s.TotalMessages = r.done
	}
	if secs := s.Elapsed.Seconds(); secs > 0 {
		s.Rate, s.ByteRate = float64(r.done)/secs, float64(r.bytes)/secs
		if s.Rate > 0 && s.TotalMessages >= 0 {
			s.ETA = time.Duration(float64(s.TotalMessages-r.done) / s.Rate * float64(time.Second))
		}
	}
	r.o.Progress.Update(s)
}

// cleanFlags keeps the flags the engine stores and counts the others:
// \Recent is never stored (not counted), an unknown system flag or a
// keyword with a character IMAP does not allow in an atom is dropped.
func cleanFlags(in []string) ([]string, int) {
	out := in[:0:0]
	dropped := 0
	for _, f := range in {
		if strings.EqualFold(f, `\Recent`) {
			continue
		}
		if !validFlag(f) {
			dropped++
			continue
		}
		out = append(out, f)
	}
	return out, dropped
}

var systemFlags = map[string]bool{`\seen`: true, `\answered`: true, `\flagged`: true, `\deleted`: true, `\draft`: true}

func validFlag(f string) bool {
	if f == "" || len(f) > 255 {
		return false
	}
	for _, c := range f {
		if c <= ' ' || c == 0x7f || c >= 0x80 || strings.ContainsRune(`(){"%*]\`, c) && !(c == '\\' && f[0] == '\\') {
			return false
		}
	}
	if f[0] == '\\' {
		return systemFlags[strings.ToLower(f)]
	}
	return !strings.Contains(f, `\`)
}
