package web

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tidemark/tidemark/operations"
)

// Metrics holds the server's Prometheus registry: the counters and
// histograms the producers' hooks feed, the Go runtime and process
// collectors, and (once Watch is called) the figures read from the
// backup, the volumes and the queue at each scrape. Its methods are safe
// for concurrent use and return at once.
type Metrics struct {
	reg *prometheus.Registry

	redoAppend    prometheus.Histogram
	redoRecords   prometheus.Counter
	redoSync      prometheus.Histogram
	redoSyncBytes prometheus.Counter

	lmtpDelivered prometheus.Counter
	lmtpRejected  *prometheus.CounterVec

	imapOpen       prometheus.Gauge
	imapOpenN      atomic.Int64
	imapSeen       atomic.Bool // an IMAP server reports sessions
	imapSessions   prometheus.Counter
	imapCommands   *prometheus.CounterVec
	imapCommandDur *prometheus.HistogramVec
	imapLogins     *prometheus.CounterVec
	imapLockouts   prometheus.Counter

	webLogins *prometheus.CounterVec

	opDuration *prometheus.HistogramVec

	// rate keeps recent samples of the delivery counter for the
	// dashboard's deliveries per second.
	rate rateSampler
}

// latencyBuckets span 50 µs to 10 s: an fsync on a fast disk to a
// stalled one, an IMAP NOOP to a large SEARCH.
var latencyBuckets = prometheus.ExponentialBuckets(0.00005, 2.5, 14)

// NewMetrics makes the registry with every metric at zero.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.redoAppend = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tidemark_redo_append_seconds",
		Help: "Time from a redo log append to its records being durable (queueing, write and fsync).", Buckets: latencyBuckets})
	m.redoRecords = prometheus.NewCounter(prometheus.CounterOpts{Name: "tidemark_redo_appended_records_total",
		Help: "Records appended durably to the redo log."})
	m.redoSync = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tidemark_redo_fsync_seconds",
		Help: "Time of one group write and fsync of the redo log.", Buckets: latencyBuckets})
	m.redoSyncBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "tidemark_redo_written_bytes_total",
		Help: "Bytes written and fsynced to the redo log."})
	m.lmtpDelivered = prometheus.NewCounter(prometheus.CounterOpts{Name: "tidemark_lmtp_deliveries_total",
		Help: "Recipients whose message was stored (250 after DATA)."})
	m.lmtpRejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tidemark_lmtp_rejections_total",
		Help: "LMTP replies that refused or deferred a sender, a recipient or a recipient's delivery, by stage (mail, rcpt, data) and reply code."},
		[]string{"stage", "code"})
	m.imapOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tidemark_imap_sessions_open",
		Help: "IMAP sessions open now."})
	m.imapSessions = prometheus.NewCounter(prometheus.CounterOpts{Name: "tidemark_imap_sessions_total",
		Help: "IMAP sessions opened."})
	m.imapCommands = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tidemark_imap_commands_total",
		Help: "IMAP commands answered, by command and status (OK, NO, BAD)."}, []string{"command", "status"})
	m.imapCommandDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tidemark_imap_command_seconds",
		Help: "Time to answer an IMAP command, by command.", Buckets: latencyBuckets}, []string{"command"})
	m.imapLogins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tidemark_imap_logins_total",
		Help: "IMAP login attempts by result."}, []string{"result"})
	m.imapLockouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "tidemark_imap_lockouts_total",
		Help: "IMAP logins refused because the address was locked out after failed logins."})
	m.webLogins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tidemark_web_logins_total",
		Help: "Dashboard login attempts by result (ok, failed, limited)."}, []string{"result"})
	m.opDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tidemark_operation_duration_seconds",
		Help:    "Run time of ended operations (start to end; 0 for one that never started), by kind and final state.",
		Buckets: prometheus.ExponentialBuckets(0.1, 4, 10)}, []string{"kind", "state"})
	for _, c := range []prometheus.Collector{m.redoAppend, m.redoRecords, m.redoSync, m.redoSyncBytes,
		m.lmtpDelivered, m.lmtpRejected, m.imapOpen, m.imapSessions, m.imapCommands, m.imapCommandDur,
		m.imapLogins, m.imapLockouts, m.webLogins, m.opDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RedoAppended is redolog.Options.OnAppend.
func (m *Metrics) RedoAppended(records int, d time.Duration) {
	m.redoRecords.Add(float64(records))
	m.redoAppend.Observe(d.Seconds())
}

// RedoSynced is redolog.Options.OnSync.
func (m *Metrics) RedoSynced(bytes int, d time.Duration) {
	m.redoSyncBytes.Add(float64(bytes))
	m.redoSync.Observe(d.Seconds())
}

// OperationEnded is operations.Options.OnEnd.
func (m *Metrics) OperationEnded(op operations.Operation) {
	var d time.Duration
	if !op.Started.IsZero() && op.Ended.After(op.Started) {
		d = op.Ended.Sub(op.Started)
	}
	m.opDuration.WithLabelValues(boundLabel(op.Kind, 40), string(op.State)).Observe(d.Seconds())
}

// LMTP returns the observer for lmtp.Options.Observer.
func (m *Metrics) LMTP() LMTPObserver { return LMTPObserver{m} }

// LMTPObserver counts LMTP replies (it is an lmtp.Observer).
type LMTPObserver struct{ m *Metrics }

// Reply counts one reply: a 250 after DATA is a delivery, any 4xx or 5xx
// a rejection labelled with its codes.
func (o LMTPObserver) Reply(stage string, code int, enhanced string) {
	switch {
	case code >= 200 && code < 300:
		if stage == "data" {
			o.m.lmtpDelivered.Inc()
			o.m.rate.add(1)
		}
	case code >= 400:
		label := itoa(code)
		if enhanced != "" {
			label += " " + boundLabel(enhanced, 12)
		}
		o.m.lmtpRejected.WithLabelValues(boundLabel(stage, 8), label).Inc()
	}
}

// IMAP returns the observer for imap.Options.Observer.
func (m *Metrics) IMAP() IMAPObserver {
	m.imapSeen.Store(true)
	return IMAPObserver{m}
}

// IMAPObserver counts IMAP sessions, commands and logins.
type IMAPObserver struct{ m *Metrics }

// SessionOpened counts a new session.
func (o IMAPObserver) SessionOpened() {
	o.m.imapSessions.Inc()
	o.m.imapOpen.Inc()
	o.m.imapOpenN.Add(1)
}

// SessionClosed counts a session's end.
func (o IMAPObserver) SessionClosed() {
	o.m.imapOpen.Dec()
	o.m.imapOpenN.Add(-1)
}

// Command counts one answered command and its latency. Names outside the
// IMAP commands tidemark knows are counted as OTHER, so a client cannot
// grow the label set.
func (o IMAPObserver) Command(name string, d time.Duration, status string) {
	name = imapCommandLabel(name)
	st := strings.ToUpper(status)
	switch st {
	case "OK", "NO", "BAD":
	default:
		st = "other"
	}
	o.m.imapCommands.WithLabelValues(name, st).Inc()
	o.m.imapCommandDur.WithLabelValues(name).Observe(d.Seconds())
}

// Login counts one login attempt by its result; a login refused for a
// lockout ("locked") is also a lockout.
func (o IMAPObserver) Login(result string) {
	r := boundLabel(strings.ToLower(result), 20)
	o.m.imapLogins.WithLabelValues(r).Inc()
	if r == "locked" || r == "lockout" || r == "locked_out" {
		o.m.imapLockouts.Inc()
	}
}

// Deliveries returns the recipients delivered since the start.
func (m *Metrics) Deliveries() float64 { return m.rate.total() }

// DeliveryRate returns deliveries per second over about the last minute.
func (m *Metrics) DeliveryRate(now time.Time) float64 { return m.rate.perSecond(now) }

// IMAPSessionsOpen returns the IMAP sessions open now.
func (m *Metrics) IMAPSessionsOpen() int64 { return m.imapOpenN.Load() }

// webLogin counts a dashboard login attempt.
func (m *Metrics) webLogin(result string) { m.webLogins.WithLabelValues(result).Inc() }

var imapCommands = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`CAPABILITY NOOP LOGOUT STARTTLS AUTHENTICATE LOGIN ENABLE SELECT EXAMINE
		CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB NAMESPACE STATUS APPEND IDLE CLOSE UNSELECT EXPUNGE
		SEARCH FETCH STORE COPY MOVE CHECK ID GETQUOTA GETQUOTAROOT SETQUOTA COMPRESS ESEARCH SORT THREAD`) {
		imapCommands[c] = true
	}
}

// imapCommandLabel normalises a command name ("uid fetch" → "UID FETCH").
func imapCommandLabel(name string) string {
	f := strings.Fields(strings.ToUpper(name))
	switch {
	case len(f) == 1 && imapCommands[f[0]]:
		return f[0]
	case len(f) == 2 && f[0] == "UID" && imapCommands[f[1]]:
		return "UID " + f[1]
	}
	return "OTHER"
}

var labelJunk = regexp.MustCompile(`[^a-zA-Z0-9_.\- ]`)

// boundLabel keeps a label value printable and short.
func boundLabel(s string, n int) string {
	s = labelJunk.ReplaceAllString(s, "_")
	if len(s) > n {
		s = s[:n]
	}
	if s == "" {
		s = "none"
	}
	return s
}

func itoa(n int) string {
	if n < 0 || n > 999 {
		return "other"
	}
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// rateSampler turns a counter into a rate over the last minute from
// samples taken at most every few seconds.
type rateSampler struct {
	mu      sync.Mutex
	n       float64
	samples []sample // oldest first, at most a minute and a bit
}

type sample struct {
	at time.Time
	n  float64
}

func (r *rateSampler) add(d float64) {
	r.mu.Lock()
	r.n += d
	r.mu.Unlock()
}

func (r *rateSampler) total() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// tick records a sample; Server calls it every few seconds.
func (r *rateSampler) tick(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, sample{now, r.n})
	for len(r.samples) > 2 && now.Sub(r.samples[1].at) >= time.Minute {
		r.samples = r.samples[1:]
	}
}

func (r *rateSampler) perSecond(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == 0 {
		return 0
	}
	first := r.samples[0]
	dt := now.Sub(first.at).Seconds()
	if dt < 1 {
		return 0
	}
	return (r.n - first.n) / dt
}

// scrapeTimeout bounds the status reads of one scrape.
const scrapeTimeout = 10 * time.Second

// Watch adds the figures read at each scrape: the backup (lag, position,
// repository size, dedup and compression), the volumes and, when ops is
// not nil, the queue.
func (m *Metrics) Watch(src Source, ops Ops) {
	m.reg.MustRegister(&statusCollector{src: src, ops: ops})
}

var (
	descBackupUp       = prometheus.NewDesc("tidemark_backup_up", "1 while the real-time backup ships, 0 while it is failing, refused or starting.", nil, nil)
	descLagRecords     = prometheus.NewDesc("tidemark_backup_lag_records", "Redo records not yet in the backup repository.", nil, nil)
	descLagSeconds     = prometheus.NewDesc("tidemark_backup_lag_seconds", "Age of the oldest redo record not yet in the backup repository.", nil, nil)
	descShippedLSN     = prometheus.NewDesc("tidemark_backup_shipped_lsn", "Last redo LSN in the backup repository.", nil, nil)
	descShippedTime    = prometheus.NewDesc("tidemark_backup_last_shipped_timestamp_seconds", "Commit time of the last record in the backup repository.", nil, nil)
	descRepoBytes      = prometheus.NewDesc("tidemark_backup_repository_bytes", "Bytes stored in the backup repository.", nil, nil)
	descDedup          = prometheus.NewDesc("tidemark_backup_dedup_ratio", "Logical message bytes of the backup over its unique message bytes.", nil, nil)
	descCompression    = prometheus.NewDesc("tidemark_backup_compression_ratio", "Unique message bytes over the blob bytes stored.", nil, nil)
	descVolumeBytes    = prometheus.NewDesc("tidemark_volume_bytes", "Bytes of the objects stored on a volume.", []string{"volume", "tier", "type"}, nil)
	descVolumeObjects  = prometheus.NewDesc("tidemark_volume_objects", "Objects stored on a volume.", []string{"volume"}, nil)
	descVolumeBlobs    = prometheus.NewDesc("tidemark_volume_blobs", "Referenced blobs the mailbox places on a volume.", []string{"volume"}, nil)
	descVolumeRaw      = prometheus.NewDesc("tidemark_volume_raw_bytes", "Uncompressed bytes of the blobs the mailbox places on a volume.", []string{"volume"}, nil)
	descVolumeFree     = prometheus.NewDesc("tidemark_volume_free_bytes", "Free bytes where a volume stores (its file system).", []string{"volume"}, nil)
	descVolumeUp       = prometheus.NewDesc("tidemark_volume_up", "1 when a volume's figures could be read, 0 when it did not answer.", []string{"volume"}, nil)
	descOpsQueued      = prometheus.NewDesc("tidemark_operations_queued", "Operations waiting in a queue.", []string{"lane"}, nil)
	descOpsRunning     = prometheus.NewDesc("tidemark_operations_running", "Operations running in a queue.", []string{"lane"}, nil)
	descScrapeFailures = prometheus.NewDesc("tidemark_status_read_errors", "Status reads that failed during this scrape (the volume list).", nil, nil)
)

// statusCollector reads the status APIs at scrape time.
type statusCollector struct {
	src Source
	ops Ops
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBackupUp, descLagRecords, descLagSeconds, descShippedLSN, descShippedTime,
		descRepoBytes, descDedup, descCompression, descVolumeBytes, descVolumeObjects, descVolumeBlobs, descVolumeRaw,
		descVolumeFree, descVolumeUp, descOpsQueued, descOpsRunning, descScrapeFailures} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if b := c.src.Backup(ctx); b.Enabled {
		up := 0.0
		if b.State == "running" {
			up = 1
		}
		g(descBackupUp, up)
		g(descLagRecords, float64(b.LagRecords))
		g(descLagSeconds, b.LagSeconds)
		g(descShippedLSN, float64(b.ShippedLSN))
		if !b.ShippedTime.IsZero() {
			g(descShippedTime, float64(b.ShippedTime.UnixNano())/1e9)
		}
		if !b.FiguresTime.IsZero() {
			g(descRepoBytes, float64(b.RepositoryBytes))
			g(descDedup, b.DedupRatio)
			g(descCompression, b.CompressionRatio)
		}
	}
	vols, err := c.src.Volumes(ctx)
	failures := 0.0
	if err != nil {
		failures++
	}
	for _, v := range vols {
		if v.Error != "" {
			g(descVolumeUp, 0, v.Name)
			continue
		}
		g(descVolumeUp, 1, v.Name)
		g(descVolumeBytes, float64(v.StoredBytes), v.Name, v.Tier, v.Type)
		if v.Objects >= 0 {
			g(descVolumeObjects, float64(v.Objects), v.Name)
		}
		if v.Blobs >= 0 {
			g(descVolumeBlobs, float64(v.Blobs), v.Name)
			g(descVolumeRaw, float64(v.RawBytes), v.Name)
		}
		if v.FreeBytes >= 0 {
			g(descVolumeFree, float64(v.FreeBytes), v.Name)
		}
	}
	g(descScrapeFailures, failures)
	if c.ops != nil {
		queued, running := map[operations.Lane]int{}, map[operations.Lane]int{}
		for _, op := range c.ops.List() {
			switch op.State {
			case operations.Queued:
				queued[op.Lane]++
			case operations.Running:
				running[op.Lane]++
			}
		}
		for _, l := range operations.Lanes {
			g(descOpsQueued, float64(queued[l]), string(l))
			g(descOpsRunning, float64(running[l]), string(l))
		}
	}
}
