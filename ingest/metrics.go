package ingest

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherhq/tether/models"
)

// Metrics holds the consumer's counters and gauges. All methods are safe
// for concurrent use. WritePrometheus renders them in the Prometheus text
// exposition format for the daemon's /metrics endpoint.
type Metrics struct {
	consumed, deadLettered, findings, commands atomic.Int64
	durable                                    atomic.Int64
	batches, commits, commitErrors             atomic.Int64
	sinkErrors, fetchErrors                    atomic.Int64
	assigned                                   atomic.Int64
	running, sinkHealthy                       atomic.Bool
	lastBatchNanos, lastBatchRecords           atomic.Int64
	lastSuccess                                atomic.Int64 // unix nanos of the last durable batch

	checkpoints, checkpointBytes, lastCheckpointBytes, checkpointsSkipped atomic.Int64
	restores, coldStarts, restoreFailures, replayed                       atomic.Int64
	lastRestoreNanos                                                      atomic.Int64

	mu        sync.Mutex
	dlqClass  map[string]int64
	severity  [5]int64 // info, low, medium, high, critical
	lagByPart map[int32]int64
}

// NewMetrics returns zeroed metrics.
func NewMetrics() *Metrics {
	m := &Metrics{dlqClass: map[string]int64{}, lagByPart: map[int32]int64{}}
	m.sinkHealthy.Store(true)
	return m
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
	// FindingsBySeverity counts findings in the bands info (<30), low
	// (<50), medium (<70), high (<90) and critical.
	FindingsBySeverity [5]int64
	// Lag is the summed consumer lag over assigned partitions at the last poll.
	Lag int64
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
	}
	if t := m.lastSuccess.Load(); t > 0 {
		s.LastDurable = time.Unix(0, t)
	}
	m.mu.Lock()
	for k, v := range m.dlqClass {
		s.DeadLetterByClass[k] = v
	}
	s.FindingsBySeverity = m.severity
	for _, l := range m.lagByPart {
		s.Lag += l
	}
	m.mu.Unlock()
	return s
}

// Ready reports whether the consumer is running with a healthy sink.
func (m *Metrics) Ready() bool { return m.running.Load() && m.sinkHealthy.Load() }

func (m *Metrics) observeDeadLetter(class string) {
	m.mu.Lock()
	m.dlqClass[class]++
	m.mu.Unlock()
}

func (m *Metrics) observeFinding(f *models.Finding) {
	band := 0
	switch {
	case f.Severity >= models.SeverityCritical:
		band = 4
	case f.Severity >= models.SeverityHigh:
		band = 3
	case f.Severity >= models.SeverityMedium:
		band = 2
	case f.Severity >= models.SeverityLow:
		band = 1
	}
	m.mu.Lock()
	m.severity[band]++
	m.mu.Unlock()
}

func (m *Metrics) observeBatch(d time.Duration, records int) {
	m.lastBatchNanos.Store(int64(d))
	m.lastBatchRecords.Store(int64(records))
	m.lastSuccess.Store(time.Now().UnixNano())
}

func (m *Metrics) observeCheckpoint(bytes int) {
	m.checkpoints.Add(1)
	m.checkpointBytes.Add(int64(bytes))
	m.lastCheckpointBytes.Store(int64(bytes))
}

func (m *Metrics) setLag(p int32, lag int64) {
	if lag < 0 {
		lag = 0
	}
	m.mu.Lock()
	m.lagByPart[p] = lag
	m.mu.Unlock()
}

// WritePrometheus writes the metrics in the Prometheus text format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	s := m.Snapshot()
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	counter("tether_records_consumed_total", "Records read from the events topic.", s.Consumed)
	counter("tether_findings_total", "Findings written.", s.Findings)
	counter("tether_commands_total", "Containment commands published.", s.Commands)
	counter("tether_batches_total", "Batches made durable.", s.Batches)
	counter("tether_commits_total", "Successful offset commits.", s.Commits)
	counter("tether_commit_errors_total", "Failed offset commits (the batch is redelivered).", s.CommitErrors)
	counter("tether_sink_errors_total", "Failed attempts to make a batch durable.", s.SinkErrors)
	counter("tether_fetch_errors_total", "Fetch errors from the brokers.", m.fetchErrors.Load())
	fmt.Fprintf(w, "# HELP tether_dead_letters_total Records sent to the dead-letter topic, by reason class.\n# TYPE tether_dead_letters_total counter\n")
	classes := make([]string, 0, len(s.DeadLetterByClass))
	for k := range s.DeadLetterByClass {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	for _, k := range classes {
		fmt.Fprintf(w, "tether_dead_letters_total{reason=%q} %d\n", k, s.DeadLetterByClass[k])
	}
	fmt.Fprintf(w, "# HELP tether_findings_by_severity_total Findings by severity band.\n# TYPE tether_findings_by_severity_total counter\n")
	for i, band := range []string{"info", "low", "medium", "high", "critical"} {
		fmt.Fprintf(w, "tether_findings_by_severity_total{band=%q} %d\n", band, s.FindingsBySeverity[i])
	}
	counter("tether_checkpoints_total", "Complete detector checkpoints (chunks and manifest) written to the state topic.", s.Checkpoints)
	counter("tether_checkpoint_bytes_total", "Bytes of checkpoints written (before compression).", s.CheckpointBytes)
	counter("tether_checkpoints_skipped_total", "Checkpoints that failed (snapshot error, too large, rejected by the broker); the partition retries after a backoff.", s.CheckpointsSkipped)
	counter("tether_state_restores_total", "Partitions whose detector state was restored from a checkpoint.", s.Restores)
	counter("tether_state_cold_starts_total", "Partitions that started with fresh detector state.", s.ColdStarts)
	counter("tether_state_restore_failures_total", "Cold starts caused by an unreadable or invalid checkpoint.", s.RestoreFailures)
	counter("tether_state_replayed_records_total", "Records replayed after seeking back to a checkpoint.", s.Replayed)
	gauge("tether_last_checkpoint_bytes", "Size of the last checkpoint written.", float64(m.lastCheckpointBytes.Load()))
	gauge("tether_state_last_restore_seconds", "Time the last restored partition took: reading the state topic, verifying and restoring its checkpoint.", time.Duration(m.lastRestoreNanos.Load()).Seconds())
	gauge("tether_consumer_lag", "Records behind the high watermark, summed over assigned partitions.", float64(s.Lag))
	gauge("tether_partitions_assigned", "Partitions owned by this member.", float64(m.assigned.Load()))
	gauge("tether_sink_healthy", "1 when the last batch was made durable, 0 while retrying.", float64(b2i(s.SinkHealthy)))
	gauge("tether_last_batch_seconds", "Processing time of the last batch.", time.Duration(m.lastBatchNanos.Load()).Seconds())
	gauge("tether_last_batch_records", "Records in the last batch.", float64(m.lastBatchRecords.Load()))
}
