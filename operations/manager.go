package operations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"time"
)

// Options configures a Manager. Zero fields take the defaults.
type Options struct {
	// Now is the clock for submission, start and end times, rates and
	// the persistence interval. Default time.Now.
	Now func() time.Time
	// Logger receives every start and end. Default slog.Default().
	Logger *slog.Logger
	// Notifier, when set, hears every start and end (see MailNotifier).
	Notifier Notifier
	// Keep is how many ended operations are kept. Default 1000.
	Keep int
	// PersistEvery is how often a running operation's progress is
	// written to disk at most. Default 5 s.
	PersistEvery time.Duration
	// NotifyTimeout bounds each notification. Default 30 s.
	NotifyTimeout time.Duration
	// Classify, when set, names the class of a failed job's error (kept
	// in Operation.ErrorClass, so a client far from the job can map it to
	// an exit code); "" for none.
	Classify func(error) string
	// OnEnd, when set, hears every operation that ended (done, failed,
	// stopped, interrupted, removed), for metrics. It runs before the end
	// is visible to anyone watching or listing the operation (so a client
	// that saw it end finds it counted), with the manager's lock held: it
	// must return at once and must not call the Manager.
	OnEnd func(Operation)
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Keep <= 0 {
		c.Keep = 1000
	}
	if c.PersistEvery <= 0 {
		c.PersistEvery = 5 * time.Second
	}
	if c.NotifyTimeout <= 0 {
		c.NotifyTimeout = 30 * time.Second
	}
	return c
}

type kind struct {
	lane Lane
	job  Job
}

// entry is the manager's record of one operation.
type entry struct {
	op        Operation
	ver       uint64                  // bumped at every change
	savedVer  uint64                  // last version written (under saveMu)
	savedAt   time.Time               // when progress was last written
	changed   chan struct{}           // closed at the next change
	cancel    context.CancelCauseFunc // set while running
	stopAsked bool
}

// Manager queues, runs and keeps operations. Its methods are safe for
// concurrent use.
type Manager struct {
	opts  Options
	store *store

	mu     sync.Mutex
	kinds  map[string]kind
	ops    map[uint64]*entry
	queues map[Lane][]uint64
	wake   map[Lane]chan struct{}
	nextID uint64
	closed bool
	paused map[Lane]bool

	saveMu sync.Mutex
	lanes  sync.WaitGroup
	stop   chan struct{}
	notes  *notifyQueue
}

// Open opens (creating) the operations directory dir and starts the lanes.
// Operations that were queued or running when the previous manager on dir
// stopped or crashed are marked interrupted and notified as ended. Only one
// Manager may have dir open (ErrLocked).
func Open(dir string, o *Options) (*Manager, error) {
	opts := o.withDefaults()
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, store: st, kinds: map[string]kind{}, ops: map[uint64]*entry{},
		queues: map[Lane][]uint64{}, wake: map[Lane]chan struct{}{}, nextID: 1, stop: make(chan struct{}),
		paused: map[Lane]bool{}}
	m.notes = newNotifyQueue(opts)
	ops, problems, err := st.load()
	if err != nil {
		st.close()
		return nil, err
	}
	for _, p := range problems {
		opts.Logger.Warn("operation record unreadable", "err", p)
	}
	var interrupted []Operation
	for _, op := range ops {
		if !op.State.Ended() {
			was := op.State
			op.State = Interrupted
			op.Ended = opts.Now()
			op.Error = fmt.Sprintf("the server stopped while the operation was %s; resubmit it to run it again", was)
			if err := st.save(op); err != nil {
				st.close()
				return nil, err
			}
			interrupted = append(interrupted, op)
		}
		m.ops[op.ID] = &entry{op: op, changed: make(chan struct{})}
		m.nextID = max(m.nextID, op.ID+1)
	}
	for _, l := range Lanes {
		m.wake[l] = make(chan struct{}, 1)
	}
	for _, l := range Lanes {
		m.lanes.Add(1)
		go m.runLane(l)
	}
	for _, op := range interrupted {
		m.onEnd(op)
		m.ended(op)
	}
	return m, nil
}

// Register makes kind runnable in lane. Registering a kind again replaces
// its job.
func (m *Manager) Register(kindName string, lane Lane, job Job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kinds[kindName] = kind{lane: lane, job: job}
}

// Kinds lists the registered kinds.
func (m *Manager) Kinds() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ks []string
	for k := range m.kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Submit queues an operation and returns it once it is durable.
func (m *Manager) Submit(req Request) (Operation, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Operation{}, ErrClosed
	}
	k, ok := m.kinds[req.Kind]
	if !ok {
		m.mu.Unlock()
		return Operation{}, fmt.Errorf("%w %q", ErrUnknownKind, req.Kind)
	}
	params := req.Params
	if len(params) > 0 && !json.Valid(params) {
		m.mu.Unlock()
		return Operation{}, fmt.Errorf("operations: parameters of %s are not valid JSON", req.Kind)
	}
	op := Operation{ID: m.nextID, Kind: req.Kind, Lane: k.lane, Params: params, State: Queued,
		Schedule: req.Schedule, ResubmitOf: req.ResubmitOf, Submitted: m.opts.Now()}
	m.nextID++
	e := &entry{op: op, ver: 1, changed: make(chan struct{})}
	m.ops[op.ID] = e
	m.mu.Unlock()

	if err := m.persist(op.ID, true); err != nil {
		m.mu.Lock()
		delete(m.ops, op.ID)
		m.mu.Unlock()
		return Operation{}, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return m.finishQueued(op.ID, Interrupted, "the server stopped before the operation started")
	}
	m.queues[k.lane] = append(m.queues[k.lane], op.ID)
	m.mu.Unlock()
	select {
	case m.wake[k.lane] <- struct{}{}:
	default:
	}
	m.opts.Logger.Info("operation queued", "id", op.ID, "kind", op.Kind, "lane", op.Lane, "schedule", op.Schedule)
	return op, nil
}

// Pause holds lane's queue: the running operation goes on, queued ones
// wait (and more can be queued) until Resume. A pause lasts until Resume
// or until the manager closes.
func (m *Manager) Pause(l Lane) error {
	return m.setPaused(l, true)
}

// Resume lets lane's queue run again.
func (m *Manager) Resume(l Lane) error {
	return m.setPaused(l, false)
}

func (m *Manager) setPaused(l Lane, on bool) error {
	m.mu.Lock()
	ch, ok := m.wake[l]
	if ok {
		m.paused[l] = on
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("operations: no lane %q (lanes: backup, storage)", l)
	}
	select {
	case ch <- struct{}{}:
	default:
	}
	m.opts.Logger.Info("operations lane", "lane", l, "paused", on)
	return nil
}

// Paused lists the paused lanes.
func (m *Manager) Paused() []Lane {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Lane
	for _, l := range Lanes {
		if m.paused[l] {
			out = append(out, l)
		}
	}
	return out
}

// Resubmit queues an interrupted (or stopped or failed) operation again
// with the same kind and parameters.
func (m *Manager) Resubmit(id uint64) (Operation, error) {
	old, err := m.Get(id)
	if err != nil {
		return Operation{}, err
	}
	if !old.State.Ended() {
		return Operation{}, fmt.Errorf("operations: operation %d is still %s", id, old.State)
	}
	return m.Submit(Request{Kind: old.Kind, Params: old.Params, Schedule: old.Schedule, ResubmitOf: id})
}

// Get returns operation id as it is now.
func (m *Manager) Get(id uint64) (Operation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.ops[id]
	if !ok {
		return Operation{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return m.snapshot(e), nil
}

// List returns every kept operation, oldest first.
func (m *Manager) List() []Operation {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Operation, 0, len(m.ops))
	for _, e := range m.ops {
		out = append(out, m.snapshot(e))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Watch returns operation id as it is now and a channel closed at its next
// change.
func (m *Manager) Watch(id uint64) (Operation, <-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.ops[id]
	if !ok {
		return Operation{}, nil, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return m.snapshot(e), e.changed, nil
}

// Wait blocks until operation id has ended or ctx ends.
func (m *Manager) Wait(ctx context.Context, id uint64) (Operation, error) {
	for {
		op, ch, err := m.Watch(id)
		if err != nil || op.State.Ended() {
			return op, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return op, ctx.Err()
		}
	}
}

// Stop stops operation id: a queued one ends at once as stopped; a running
// one has its context cancelled and ends as stopped when its job returns.
// It returns the operation as it is after the request.
func (m *Manager) Stop(id uint64) (Operation, error) {
	m.mu.Lock()
	e, ok := m.ops[id]
	if !ok {
		m.mu.Unlock()
		return Operation{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	switch e.op.State {
	case Queued:
		m.mu.Unlock()
		return m.finishQueued(id, Stopped, "stopped before it started")
	case Running:
		e.stopAsked = true
		if e.cancel != nil {
			e.cancel(ErrStopped)
		}
		op := m.snapshot(e)
		m.mu.Unlock()
		m.opts.Logger.Info("operation stop requested", "id", id, "kind", op.Kind)
		return op, nil
	}
	op := m.snapshot(e)
	m.mu.Unlock()
	return op, fmt.Errorf("%w: %d is %s", ErrEnded, id, op.State)
}

// finishQueued ends a queued operation without running it. It returns
// ErrEnded when the operation has meanwhile started or ended.
func (m *Manager) finishQueued(id uint64, st State, why string) (Operation, error) {
	m.mu.Lock()
	e := m.ops[id]
	if e.op.State != Queued {
		op := m.snapshot(e)
		m.mu.Unlock()
		if op.State == Running && st == Stopped {
			return m.Stop(id)
		}
		return op, fmt.Errorf("%w: %d is %s", ErrEnded, id, op.State)
	}
	q := m.queues[e.op.Lane]
	for i, qid := range q {
		if qid == id {
			m.queues[e.op.Lane] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	e.op.State = st
	e.op.Ended = m.opts.Now()
	e.op.Error = why
	op := m.snapshot(e)
	m.onEnd(op)
	m.bump(e)
	m.mu.Unlock()
	err := m.persist(id, true)
	m.ended(op)
	return op, err
}

// Close interrupts the running operations (their jobs see ErrShutdown as
// the cause of their context's cancellation) and the queued ones, waits
// for the lanes and for pending notifications, and releases the directory.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var queued []uint64
	for _, l := range Lanes {
		queued = append(queued, m.queues[l]...)
	}
	for _, e := range m.ops {
		if e.op.State == Running && e.cancel != nil {
			e.cancel(ErrShutdown)
		}
	}
	m.mu.Unlock()
	for _, id := range queued {
		_, _ = m.finishQueued(id, Interrupted, "the server stopped before the operation started; resubmit it to run it")
	}
	close(m.stop)
	m.lanes.Wait()
	m.notes.close()
	m.prune()
	return m.store.close()
}

// runLane runs lane's queue until the manager closes.
func (m *Manager) runLane(l Lane) {
	defer m.lanes.Done()
	for {
		m.mu.Lock()
		var id uint64
		if !m.closed && !m.paused[l] && len(m.queues[l]) > 0 {
			id = m.queues[l][0]
			m.queues[l] = m.queues[l][1:]
		}
		m.mu.Unlock()
		if id != 0 {
			m.run(id)
			continue
		}
		select {
		case <-m.stop:
			return
		case <-m.wake[l]:
		}
	}
}

// run runs one queued operation to its end.
func (m *Manager) run(id uint64) {
	m.mu.Lock()
	e := m.ops[id]
	k, ok := m.kinds[e.op.Kind]
	if e.op.State != Queued {
		m.mu.Unlock()
		return
	}
	if m.closed {
		m.mu.Unlock()
		_, _ = m.finishQueued(id, Interrupted, "the server stopped before the operation started; resubmit it to run it")
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	e.cancel = cancel
	e.op.State = Running
	e.op.Started = m.opts.Now()
	m.bump(e)
	started := m.snapshot(e)
	m.mu.Unlock()
	if err := m.persist(id, true); err != nil {
		m.opts.Logger.Error("operation state not saved", "id", id, "err", err)
	}
	m.opts.Logger.Info("operation started", "id", id, "kind", started.Kind, "lane", started.Lane)
	m.notes.push(EventStarted, started)

	var report any
	var err error
	if !ok {
		err = fmt.Errorf("%w %q (not registered in this process)", ErrUnknownKind, started.Kind)
	} else {
		report, err = runJob(ctx, k.job, started.Params, &Tracker{m: m, id: id})
	}
	var raw json.RawMessage
	if report != nil {
		if b, merr := json.Marshal(report); merr != nil {
			err = errors.Join(err, fmt.Errorf("encode report: %w", merr))
		} else if string(b) != "null" {
			raw = b
		}
	}

	m.mu.Lock()
	e.cancel = nil
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		e.op.State = Done
	case e.stopAsked || errors.Is(cause, ErrStopped):
		e.op.State = Stopped
		e.op.Error = err.Error()
	case errors.Is(cause, ErrShutdown):
		e.op.State = Interrupted
		e.op.Error = fmt.Sprintf("the server stopped while it ran (%v); resubmit it to run it again", err)
	default:
		e.op.State = Failed
		e.op.Error = err.Error()
		if m.opts.Classify != nil {
			e.op.ErrorClass = m.opts.Classify(err)
		}
	}
	e.op.Ended = m.opts.Now()
	e.op.Report = raw
	final := m.snapshot(e)
	m.onEnd(final)
	m.bump(e)
	m.mu.Unlock()
	if err := m.persist(id, true); err != nil {
		m.opts.Logger.Error("operation state not saved", "id", id, "err", err)
	}
	m.ended(final)
	m.prune()
}

// runJob runs job, turning a panic into an error so one bad job cannot take
// the server down.
func runJob(ctx context.Context, job Job, params json.RawMessage, t *Tracker) (report any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("operations: job panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return job(ctx, params, t)
}

// ended logs and notifies the end of op.
func (m *Manager) ended(op Operation) {
	log := m.opts.Logger.Info
	if op.State == Failed || op.State == Interrupted {
		log = m.opts.Logger.Warn
	}
	log("operation ended", "id", op.ID, "kind", op.Kind, "state", op.State, "err", op.Error)
	m.notes.push(EventEnded, op)
}

// onEnd tells Options.OnEnd that op ended.
func (m *Manager) onEnd(op Operation) {
	if m.opts.OnEnd != nil {
		m.opts.OnEnd(op)
	}
}

// progress applies f to a running operation's progress.
func (m *Manager) progress(id uint64, f func(*Progress)) {
	m.mu.Lock()
	e, ok := m.ops[id]
	if !ok || e.op.State != Running {
		m.mu.Unlock()
		return
	}
	f(&e.op.Progress)
	m.bump(e)
	due := m.opts.Now().Sub(e.savedAt) >= m.opts.PersistEvery
	m.mu.Unlock()
	if due {
		if err := m.persist(id, false); err != nil {
			m.opts.Logger.Warn("operation progress not saved", "id", id, "err", err)
		}
	}
}

// bump records a change of e and wakes its watchers. m.mu is held.
func (m *Manager) bump(e *entry) {
	e.ver++
	close(e.changed)
	e.changed = make(chan struct{})
}

// snapshot copies e's operation with rates and ETA filled in. m.mu is held.
func (m *Manager) snapshot(e *entry) Operation {
	op := e.op
	if op.State == Running || (op.State.Ended() && !op.Started.IsZero()) {
		end := op.Ended
		if op.State == Running {
			end = m.opts.Now()
		}
		if secs := end.Sub(op.Started).Seconds(); secs > 0 {
			p := &op.Progress
			p.ItemsPerSec = float64(p.Items) / secs
			p.BytesPerSec = float64(p.Bytes) / secs
			if op.State == Running {
				switch {
				case p.BytesTotal > 0 && p.BytesPerSec > 0:
					p.ETASeconds = max(0, float64(p.BytesTotal-p.Bytes)/p.BytesPerSec)
				case p.ItemsTotal > 0 && p.ItemsPerSec > 0:
					p.ETASeconds = max(0, float64(p.ItemsTotal-p.Items)/p.ItemsPerSec)
				}
			}
		}
	}
	return op
}

// persist writes operation id if it changed since it was last written.
// Without force, only progress is at stake and a write is skipped when
// one happened within PersistEvery.
func (m *Manager) persist(id uint64, force bool) error {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	e, ok := m.ops[id]
	if !ok || e.ver <= e.savedVer || (!force && m.opts.Now().Sub(e.savedAt) < m.opts.PersistEvery) {
		m.mu.Unlock()
		return nil
	}
	op, ver := m.snapshot(e), e.ver
	e.savedAt = m.opts.Now()
	m.mu.Unlock()
	if err := m.store.save(op); err != nil {
		return err
	}
	m.mu.Lock()
	e.savedVer = max(e.savedVer, ver)
	m.mu.Unlock()
	return nil
}

// prune removes the oldest ended operations beyond Options.Keep.
func (m *Manager) prune() {
	m.mu.Lock()
	var ended []uint64
	for id, e := range m.ops {
		if e.op.State.Ended() {
			ended = append(ended, id)
		}
	}
	if len(ended) <= m.opts.Keep {
		m.mu.Unlock()
		return
	}
	sort.Slice(ended, func(i, j int) bool { return ended[i] < ended[j] })
	drop := ended[:len(ended)-m.opts.Keep]
	for _, id := range drop {
		delete(m.ops, id)
	}
	m.mu.Unlock()
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	for _, id := range drop {
		if err := m.store.remove(id); err != nil {
			m.opts.Logger.Warn("old operation not removed", "id", id, "err", err)
		}
	}
}
