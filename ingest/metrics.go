package ingest

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
)

// Metrics holds the consumer's counters, gauges and histograms. All
// methods are safe for concurrent use. Metrics is a prometheus.Collector:
// register it on the daemon's registry to expose it on /metrics.
type Metrics struct {
	consumed, deadLettered, findings, commands atomic.Int64
	durable                                    atomic.Int64
	batches, commits, commitErrors             atomic.Int64
	sinkErrors, fetchErrors                    atomic.Int64
	assigned                                   atomic.Int64
	running, sinkHealthy                       atomic.Bool
	stopping                                   atomic.Bool // Run's context ended: finishing the last batch
	lastBatchNanos, lastBatchRecords           atomic.Int64
	lastSuccess                                atomic.Int64 // unix nanos of the last durable batch

	checkpoints, checkpointBytes, lastCheckpointBytes, checkpointsSkipped atomic.Int64
	restores, coldStarts, restoreFailures, replayed                       atomic.Int64
	journalRecovered, journalRecoveryFailures                             atomic.Int64
	lastRestoreNanos                                                      atomic.Int64

	// detectorStats, when set (by the consumer), supplies the detector
	// counters rendered as tether_detector_evictions_total and
	// tether_containment_commands_held_total.
	detectorStats func() detector.Stats
	// detectorOpts, with detectorStats, supplies the configured memory
	// budget and command rate limits rendered as gauges.
	detectorOpts detector.Options
	// Lag refresher (lag.go): the group's committed offsets against the
	// partitions' end offsets, and whether the broker answered.
	lag, groupLag                                                atomic.Int64
	lagRefreshes                                                 atomic.Int64
	lagRefreshErrors                                             atomic.Int64
	lastBrokerContact                                            atomic.Int64 // unix nanos of the last successful refresh
	brokerOK                                                     atomic.Bool  // the last refresh succeeded
	brokerStaleAfter                                             time.Duration
	batchSeconds                                                 prometheus.Histogram
	findingLatency                                               prometheus.Histogram
	commandLatency                                               prometheus.Histogram
	stageSeconds                                                 *prometheus.HistogramVec
	descs                                                        map[string]*prometheus.Desc
	deadLetterDesc                                               *prometheus.Desc
	severityDesc                                                 *prometheus.Desc
	sinkErr, brokerErr                                           atomic.Pointer[string]
	evictionsDesc, heldDesc, budgetDesc, usedDesc, rateLimitDesc *prometheus.Desc

	mu        sync.Mutex
	dlqClass  map[string]int64
	severity  [5]int64        // by models.Band
	ckptSince map[int32]int64 // unix nanos of the last checkpoint of partitions with records after it
}

// NewMetrics returns zeroed metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		dlqClass:         map[string]int64{},
		ckptSince:        map[int32]int64{},
		brokerStaleAfter: 3 * defaultLagInterval,
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tether_batch_duration_seconds",
			Help: "Time from a poll's return to its batch being durable and committed (decode, detectors, sinks, commit).",
			// 1 ms .. ~65 s: a batch that waits out a sink outage lands in the top buckets.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		findingLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tether_event_to_finding_seconds",
			Help: "Time from the Kafka timestamp of the record that triggered a finding to the finding being durable in the sinks.",
			// 10 ms .. ~1.6 h: includes time spent queued in the topic (consumer lag).
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		commandLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tether_event_to_command_seconds",
			Help: "Time from the Kafka timestamp of the record behind a finding that a containment command names to the command being published on the control topic (producer-set timestamps in the past inflate it).",
			// 1 ms .. ~65 s.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tether_pipeline_stage_seconds",
			Help: "Time per batch in each pipeline stage: slot_wait (judging side waiting for the writer to free a batch: backpressure), poll (PollRecords), judge (decode and detectors, the partitions in parallel), urgent_write (the early write of containment commands and the findings they name), durable (the writer making the rest of the batch durable), commit (offset commit).",
			// 100 µs .. ~13 s.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"stage"}),
	}
	m.sinkHealthy.Store(true)
	m.descs = map[string]*prometheus.Desc{}
	for _, d := range metricDescs {
		m.descs[d.name] = prometheus.NewDesc(d.name, d.help, nil, nil)
	}
	m.deadLetterDesc = prometheus.NewDesc("tether_dead_letters_total", "Records sent to the dead-letter topic, by reason class.", []string{"reason"}, nil)
	m.severityDesc = prometheus.NewDesc("tether_findings_by_severity_total", "Findings by severity band.", []string{"band"}, nil)
	m.evictionsDesc = prometheus.NewDesc("tether_detector_evictions_total", "Detector state entries evicted (least recently active first) to stay within the memory budget and caps, by detector.", []string{"detector"}, nil)
	m.heldDesc = prometheus.NewDesc("tether_containment_commands_held_total", "Containment commands held back by the rate limits (summarised in containment_rate_limited findings).", nil, nil)
	m.budgetDesc = prometheus.NewDesc("tether_detector_memory_budget_bytes", "Memory budget for detector state, shared by this process's partition engines.", nil, nil)
	m.usedDesc = prometheus.NewDesc("tether_detector_memory_used_bytes", "Detector state held by this process's partition engines, as accounted against the memory budget (evictions start only above the budget).", nil, nil)
	m.rateLimitDesc = prometheus.NewDesc("tether_containment_rate_limit", "Containment command rate limits: burst (commands at once) and per_minute (sustained), per agent and per partition (fleet); 0: no limit.", []string{"scope", "kind"}, nil)
	return m
}

// metricDescs are the consumer's unlabelled metrics, in exposition order.
var metricDescs = []struct {
	name, help string
	counter    bool
}{
	{"tether_records_consumed_total", "Records read from the events topic.", true},
	{"tether_findings_total", "Findings written.", true},
	{"tether_commands_total", "Containment commands published.", true},
	{"tether_batches_total", "Batches made durable.", true},
	{"tether_commits_total", "Successful offset commits.", true},
	{"tether_commit_errors_total", "Failed offset commits (the batch is redelivered).", true},
	{"tether_sink_errors_total", "Failed attempts to make a batch durable.", true},
	{"tether_fetch_errors_total", "Fetch errors from the brokers.", true},
	{"tether_checkpoints_total", "Complete detector checkpoints (chunks and manifest) written to the state topic.", true},
	{"tether_checkpoint_bytes_total", "Bytes of checkpoints written (before compression).", true},
	{"tether_checkpoints_skipped_total", "Checkpoints that failed (snapshot error, too large, rejected by the broker); the partition retries after a backoff.", true},
	{"tether_state_restores_total", "Partitions whose detector state was restored from a checkpoint.", true},
	{"tether_state_cold_starts_total", "Partitions that started with fresh detector state.", true},
	{"tether_state_restore_failures_total", "Cold starts caused by an unreadable or invalid checkpoint.", true},
	{"tether_state_replayed_records_total", "Records replayed after seeking back to a checkpoint.", true},
	{"tether_journal_recovered_commands_total", "Commands read back from the command journal at start-up (published before a stop, their findings not yet in the stores) and written to the stores.", true},
	{"tether_journal_recovery_failures_total", "Start-ups whose command journal could not be read or written to the stores (retried at the next start).", true},
	{"tether_lag_refreshes_total", "Successful refreshes of the group's committed and end offsets.", true},
	{"tether_lag_refresh_errors_total", "Failed refreshes of the group's offsets (broker unreachable or group not described).", true},
	{"tether_last_checkpoint_bytes", "Size of the last checkpoint written.", false},
	{"tether_state_last_restore_seconds", "Time the last restored partition took: reading the state topic, verifying and restoring its checkpoint.", false},
	{"tether_checkpoint_age_seconds", "Age of the oldest checkpoint among assigned partitions that processed records after it (0: all checkpointed).", false},
	{"tether_consumer_lag", "Records behind the end offsets on this member's partitions, from the group's committed offsets (refreshed every lag_interval).", false},
	{"tether_consumer_group_lag", "Records behind the end offsets over the whole group, from its committed offsets (every member reports it: do not sum).", false},
	{"tether_broker_reachable", "1 when the last offsets refresh got an answer from the brokers.", false},
	{"tether_partitions_assigned", "Partitions owned by this member.", false},
	{"tether_sink_healthy", "1 when the last batch was made durable, 0 while retrying.", false},
	{"tether_last_batch_seconds", "Processing time of the last batch.", false},
	{"tether_last_batch_records", "Records in the last batch.", false},
}

// Stats is a snapshot of the consumer's counters.
type Stats struct {
	Consumed, DeadLettered, Findings, Commands int64
	// Durable counts records whose batch was made durable (events written
	// to the sinks or dead-lettered); it trails Consumed while a batch is
	// in flight.
	Durable                                    int64
	Batches, Commits, CommitErrors, SinkErrors int64
	// DeadLetterByClass counts dead letters by models.ReasonClass.
	DeadLetterByClass map[string]int64
	// FindingsBySeverity counts findings by models.Band: info (<30), low
	// (<50), medium (<70), high (<90) and critical.
	FindingsBySeverity [5]int64
	// Lag is the records behind the end offsets on this member's
	// partitions, from the group's committed offsets at the last refresh;
	// GroupLag the same over every partition the group consumes.
	Lag, GroupLag int64
	// SinkHealthy is false while a batch is being retried.
	SinkHealthy bool
	// LastDurable is when a batch last became durable.
	LastDurable time.Time
	// Checkpoints counts complete checkpoints (generations: chunks and
	// manifest) written to the state topic and CheckpointBytes their summed
	// record value sizes; CheckpointsSkipped those that failed (snapshot
	// error, more chunks than a manifest lists, record rejected as too
	// large), each retried only after a backoff.
	Checkpoints, CheckpointBytes, CheckpointsSkipped int64
	// Restores counts partitions whose engine was restored from a
	// checkpoint; ColdStarts those that started with fresh state, of which
	// RestoreFailures had an unreadable or invalid checkpoint.
	Restores, ColdStarts, RestoreFailures int64
	// Replayed counts records re-read after seeking back to a checkpoint.
	Replayed int64
	// LagRefreshes and LagRefreshErrors count refreshes of the group's
	// offsets.
	LagRefreshes, LagRefreshErrors int64
}

// Snapshot returns the current counters.
func (m *Metrics) Snapshot() Stats {
	s := Stats{
		Consumed: m.consumed.Load(), DeadLettered: m.deadLettered.Load(), Durable: m.durable.Load(),
		Findings: m.findings.Load(), Commands: m.commands.Load(),
		Batches: m.batches.Load(), Commits: m.commits.Load(), CommitErrors: m.commitErrors.Load(),
		SinkErrors: m.sinkErrors.Load(), SinkHealthy: m.sinkHealthy.Load(),
		DeadLetterByClass: map[string]int64{},
		Checkpoints:       m.checkpoints.Load(), CheckpointBytes: m.checkpointBytes.Load(),
		CheckpointsSkipped: m.checkpointsSkipped.Load(),
		Restores:           m.restores.Load(), ColdStarts: m.coldStarts.Load(), RestoreFailures: m.restoreFailures.Load(),
		Replayed: m.replayed.Load(),
		Lag:      m.lag.Load(), GroupLag: m.groupLag.Load(),
		LagRefreshes: m.lagRefreshes.Load(), LagRefreshErrors: m.lagRefreshErrors.Load(),
	}
	if t := m.lastSuccess.Load(); t > 0 {
		s.LastDurable = time.Unix(0, t)
	}
	m.mu.Lock()
	for k, v := range m.dlqClass {
		s.DeadLetterByClass[k] = v
	}
	s.FindingsBySeverity = m.severity
	m.mu.Unlock()
	return s
}

// Readiness is the consumer's readiness verdict, with the reasons when it
// is not ready; the daemon serves it as JSON on /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// Reasons says why the consumer is not ready (empty when ready).
	Reasons []string `json:"reasons,omitempty"`
	// Running: Run is consuming.
	Running bool `json:"running"`
	// ShuttingDown: Run's context ended; it is finishing the last batch.
	ShuttingDown bool `json:"shutting_down,omitempty"`
	// PartitionsAssigned is the number of partitions this member owns.
	PartitionsAssigned int64 `json:"partitions_assigned"`
	// BrokerReachable: the last refresh of the group's offsets succeeded,
	// and not longer ago than three lag intervals.
	BrokerReachable bool `json:"broker_reachable"`
	// LastBrokerContact is when a refresh last succeeded.
	LastBrokerContact *time.Time `json:"last_broker_contact,omitempty"`
	// BrokerError is the last refresh's error while the broker is unreachable.
	BrokerError string `json:"broker_error,omitempty"`
	// SinkHealthy is false while a batch is being retried; SinkError is
	// the last failure then.
	SinkHealthy bool   `json:"sink_healthy"`
	SinkError   string `json:"sink_error,omitempty"`
	// Lag is the records behind on this member's partitions.
	Lag int64 `json:"lag"`
}

// Readiness reports whether the consumer can do its job: Run is
// consuming and not shutting down, the brokers answered recently, this
// member owns partitions, and the sinks accept batches.
func (m *Metrics) Readiness(now time.Time) Readiness {
	r := Readiness{
		Running:            m.running.Load(),
		ShuttingDown:       m.running.Load() && m.stopping.Load(),
		PartitionsAssigned: m.assigned.Load(),
		SinkHealthy:        m.sinkHealthy.Load(),
		Lag:                m.lag.Load(),
	}
	if t := m.lastBrokerContact.Load(); t > 0 {
		at := time.Unix(0, t).UTC()
		r.LastBrokerContact = &at
		r.BrokerReachable = m.brokerOK.Load() && now.Sub(at) <= m.brokerStaleAfter
	}
	if !r.Running {
		r.Reasons = append(r.Reasons, "consumer not running")
	}
	if r.ShuttingDown {
		r.Reasons = append(r.Reasons, "shutting down")
	}
	if !r.BrokerReachable {
		reason := "brokers not reachable"
		if r.LastBrokerContact == nil {
			reason = "brokers not reached yet"
		}
		if e := m.brokerErr.Load(); e != nil {
			r.BrokerError = *e
		}
		r.Reasons = append(r.Reasons, reason)
	}
	if r.PartitionsAssigned == 0 {
		r.Reasons = append(r.Reasons, "no partitions assigned")
	}
	if !r.SinkHealthy {
		if e := m.sinkErr.Load(); e != nil {
			r.SinkError = *e
		}
		r.Reasons = append(r.Reasons, "sinks failing: batch not durable, retrying")
	}
	r.Ready = len(r.Reasons) == 0
	return r
}

// Ready reports whether the consumer is ready (see Readiness).
func (m *Metrics) Ready() bool { return m.Readiness(time.Now()).Ready }

func (m *Metrics) setSinkError(err error) {
	s := err.Error()
	m.sinkErr.Store(&s)
}

func (m *Metrics) observeBroker(err error, now time.Time) {
	if err != nil {
		s := err.Error()
		m.brokerErr.Store(&s)
		m.brokerOK.Store(false)
		m.lagRefreshErrors.Add(1)
		return
	}
	m.brokerErr.Store(nil)
	m.brokerOK.Store(true)
	m.lastBrokerContact.Store(now.UnixNano())
	m.lagRefreshes.Add(1)
}

func (m *Metrics) observeDeadLetter(class string) {
	m.mu.Lock()
	m.dlqClass[class]++
	m.mu.Unlock()
}

func (m *Metrics) observeFinding(f *models.Finding) {
	m.mu.Lock()
	m.severity[models.BandOf(f.Severity)]++
	m.mu.Unlock()
}

func (m *Metrics) observeBatch(d time.Duration, records int) {
	m.lastBatchNanos.Store(int64(d))
	m.lastBatchRecords.Store(int64(records))
	m.lastSuccess.Store(time.Now().UnixNano())
	m.batchSeconds.Observe(d.Seconds())
}

// Pipeline stages of tether_pipeline_stage_seconds.
const (
	stageSlotWait    = "slot_wait"
	stagePoll        = "poll"
	stageJudge       = "judge"
	stageUrgentWrite = "urgent_write"
	stageDurable     = "durable"
	stageCommit      = "commit"
)

// observeStage records the time one batch spent in a pipeline stage.
func (m *Metrics) observeStage(stage string, d time.Duration) {
	m.stageSeconds.WithLabelValues(stage).Observe(d.Seconds())
}

func (m *Metrics) observeCheckpoint(bytes int) {
	m.checkpoints.Add(1)
	m.checkpointBytes.Add(int64(bytes))
	m.lastCheckpointBytes.Store(int64(bytes))
}

// setCheckpointState records, after a durable batch, whether partition p
// holds records that its last checkpoint (at since) does not cover.
func (m *Metrics) setCheckpointState(p int32, dirty bool, since time.Time) {
	m.mu.Lock()
	if dirty {
		m.ckptSince[p] = since.UnixNano()
	} else {
		delete(m.ckptSince, p)
	}
	m.mu.Unlock()
}

func (m *Metrics) forgetPartition(p int32) {
	m.mu.Lock()
	delete(m.ckptSince, p)
	m.mu.Unlock()
}

// checkpointAge is the age of the oldest checkpoint among partitions with
// records after it.
func (m *Metrics) checkpointAge(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest int64
	for _, t := range m.ckptSince {
		if oldest == 0 || t < oldest {
			oldest = t
		}
	}
	if oldest == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, oldest))
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
	ch <- m.deadLetterDesc
	ch <- m.severityDesc
	ch <- m.evictionsDesc
	ch <- m.heldDesc
	ch <- m.budgetDesc
	ch <- m.usedDesc
	ch <- m.rateLimitDesc
	m.batchSeconds.Describe(ch)
	m.findingLatency.Describe(ch)
	m.commandLatency.Describe(ch)
	m.stageSeconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.Snapshot()
	now := time.Now()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	values := map[string]float64{
		"tether_records_consumed_total":           float64(s.Consumed),
		"tether_findings_total":                   float64(s.Findings),
		"tether_commands_total":                   float64(s.Commands),
		"tether_batches_total":                    float64(s.Batches),
		"tether_commits_total":                    float64(s.Commits),
		"tether_commit_errors_total":              float64(s.CommitErrors),
		"tether_sink_errors_total":                float64(s.SinkErrors),
		"tether_fetch_errors_total":               float64(m.fetchErrors.Load()),
		"tether_checkpoints_total":                float64(s.Checkpoints),
		"tether_checkpoint_bytes_total":           float64(s.CheckpointBytes),
		"tether_checkpoints_skipped_total":        float64(s.CheckpointsSkipped),
		"tether_state_restores_total":             float64(s.Restores),
		"tether_state_cold_starts_total":          float64(s.ColdStarts),
		"tether_state_restore_failures_total":     float64(s.RestoreFailures),
		"tether_state_replayed_records_total":     float64(s.Replayed),
		"tether_journal_recovered_commands_total": float64(m.journalRecovered.Load()),
		"tether_journal_recovery_failures_total":  float64(m.journalRecoveryFailures.Load()),
		"tether_lag_refreshes_total":              float64(s.LagRefreshes),
		"tether_lag_refresh_errors_total":         float64(s.LagRefreshErrors),
		"tether_last_checkpoint_bytes":            float64(m.lastCheckpointBytes.Load()),
		"tether_state_last_restore_seconds":       time.Duration(m.lastRestoreNanos.Load()).Seconds(),
		"tether_checkpoint_age_seconds":           m.checkpointAge(now).Seconds(),
		"tether_consumer_lag":                     float64(s.Lag),
		"tether_consumer_group_lag":               float64(s.GroupLag),
		"tether_broker_reachable":                 b2f(m.Readiness(now).BrokerReachable),
		"tether_partitions_assigned":              float64(m.assigned.Load()),
		"tether_sink_healthy":                     b2f(s.SinkHealthy),
		"tether_last_batch_seconds":               time.Duration(m.lastBatchNanos.Load()).Seconds(),
		"tether_last_batch_records":               float64(m.lastBatchRecords.Load()),
	}
	for _, d := range metricDescs {
		typ := prometheus.GaugeValue
		if d.counter {
			typ = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(m.descs[d.name], typ, values[d.name])
	}
	for k, v := range s.DeadLetterByClass {
		ch <- prometheus.MustNewConstMetric(m.deadLetterDesc, prometheus.CounterValue, float64(v), k)
	}
	for _, band := range models.Bands {
		ch <- prometheus.MustNewConstMetric(m.severityDesc, prometheus.CounterValue, float64(s.FindingsBySeverity[band]), band.String())
	}
	m.batchSeconds.Collect(ch)
	m.findingLatency.Collect(ch)
	m.commandLatency.Collect(ch)
	m.stageSeconds.Collect(ch)
	if m.detectorStats != nil {
		ds := m.detectorStats()
		for k, v := range ds.Evictions {
			ch <- prometheus.MustNewConstMetric(m.evictionsDesc, prometheus.CounterValue, float64(v), k)
		}
		ch <- prometheus.MustNewConstMetric(m.heldDesc, prometheus.CounterValue, float64(ds.CommandsHeld))
		o := m.detectorOpts
		ch <- prometheus.MustNewConstMetric(m.budgetDesc, prometheus.GaugeValue, float64(o.MemoryBudget.Bytes()))
		ch <- prometheus.MustNewConstMetric(m.usedDesc, prometheus.GaugeValue, float64(o.MemoryBudget.Used()))
		c := o.Containment
		for _, l := range []struct {
			scope, kind string
			v           float64
		}{{"agent", "burst", float64(c.AgentBurst)}, {"agent", "per_minute", c.AgentPerMinute}, {"fleet", "burst", float64(c.FleetBurst)}, {"fleet", "per_minute", c.FleetPerMinute}} {
			ch <- prometheus.MustNewConstMetric(m.rateLimitDesc, prometheus.GaugeValue, l.v, l.scope, l.kind)
		}
	}
}
