package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// KindUnacknowledged is the kind of the finding raised for a command that
// no consumer acknowledged as applied within the deadline.
const KindUnacknowledged = "containment_unacknowledged"

// UnacknowledgedSeverity is the severity of containment_unacknowledged: a
// containment nobody carried out leaves the agent running (high, set once).
const UnacknowledgedSeverity = 75

// AckStore stores acknowledgements (the ClickHouse writer implements it).
type AckStore interface {
	WriteAcks(ctx context.Context, acks []models.CommandAck) error
}

// RecorderOptions configures a Recorder.
type RecorderOptions struct {
	// Brokers, Topic (the ack topic) and Group (offsets of the acks read)
	// are required. Every daemon replica needs a group of its own: each
	// must see every ack to clear the commands it published.
	Brokers []string
	Topic   string
	Group   string
	// Deadline: a command published by this daemon and not acknowledged
	// as applied within it raises a containment_unacknowledged finding.
	Deadline time.Duration
	// MaxOutstanding bounds the commands awaiting an ack (oldest reported
	// as unacknowledged first when it is exceeded).
	MaxOutstanding int
	// Store receives every ack (nil: metrics only).
	Store AckStore
	// Findings receives containment_unacknowledged findings (nil: counted
	// only). It must be safe to call concurrently with the daemon's own
	// writes (the ClickHouse writer is).
	Findings sink.Writer
	// KafkaOpts are passed to the client (TLS, SASL, client id).
	KafkaOpts []kgo.Opt
	// OnError receives store, fetch and commit errors.
	OnError func(error)
	// OnAck, when set, sees every ack read (from Run's goroutine), after
	// the metrics were updated and before it is stored.
	OnAck func(models.CommandAck)
}

// DefaultRecorderOptions returns a 30 s deadline and 100,000 outstanding
// commands.
func DefaultRecorderOptions() RecorderOptions {
	return RecorderOptions{Topic: DefaultAckTopic, Deadline: 30 * time.Second, MaxOutstanding: 100_000}
}

// Recorder closes the containment loop on the daemon side: it observes the
// commands the daemon publishes (it is a sink.Writer placed after the
// Publisher), reads the consumers' acks from the ack topic, stores them
// with their time-to-contain stages, keeps histograms of the stages per
// action, and raises a containment_unacknowledged finding for a command
// not applied within the deadline.
type Recorder struct {
	opts RecorderOptions
	cl   *kgo.Client

	mu          sync.Mutex
	outstanding map[string]pending
	order       []string // outstanding ids, oldest first (may hold resolved ids)
	acked       *idWindow
	published   *idWindow // commands this recorder saw published: only theirs feed the histograms
	hist        map[histKey]*histogram
	statuses    map[string]uint64 // status or "refused:<reason>"
	overdue     uint64
}

type pending struct {
	cmd      models.ContainmentCommand
	deadline time.Time
}

type histKey struct {
	stage  string
	action models.Action
}

// NewRecorder validates o and creates the Kafka client.
func NewRecorder(o RecorderOptions) (*Recorder, error) {
	def := DefaultRecorderOptions()
	if o.Deadline <= 0 {
		o.Deadline = def.Deadline
	}
	if o.MaxOutstanding <= 0 {
		o.MaxOutstanding = def.MaxOutstanding
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	if len(o.Brokers) == 0 || o.Topic == "" || o.Group == "" {
		return nil, fmt.Errorf("%w: ack recorder needs brokers, topic and group", ErrConfig)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...), kgo.ConsumerGroup(o.Group), kgo.ConsumeTopics(o.Topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation()}, o.KafkaOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: ack recorder client for topic %q: %w", ErrConfig, o.Topic, err)
	}
	return &Recorder{opts: o, cl: cl, outstanding: map[string]pending{}, acked: newIDWindow(o.MaxOutstanding), published: newIDWindow(o.MaxOutstanding),
		hist: map[histKey]*histogram{}, statuses: map[string]uint64{}}, nil
}

// Write records the batch's commands as awaiting an ack. It never fails.
func (r *Recorder) Write(_ context.Context, b *sink.Batch) error {
	if b == nil || len(b.Commands) == 0 {
		return nil
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range b.Commands {
		r.published.add(models.ContainmentCommand{ID: c.ID}, now)
		if _, ok := r.outstanding[c.ID]; ok || r.acked.has(c.ID) {
			continue
		}
		r.outstanding[c.ID] = pending{cmd: c, deadline: now.Add(r.opts.Deadline)}
		r.order = append(r.order, c.ID)
	}
	return nil
}

// Run reads acks until ctx ends, storing each polled batch before
// committing it, and checks deadlines every second.
func (r *Recorder) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := r.cl.PollRecords(pctx, 1000)
		cancel()
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				r.opts.OnError(fmt.Errorf("control: ack recorder fetch topic %q partition %d: %w", topic, p, err))
			}
		})
		var acks []models.CommandAck
		recs := fs.Records()
		for _, rec := range recs {
			a, err := decodeAck(rec)
			if err != nil {
				r.opts.OnError(err)
				continue
			}
			acks = append(acks, a)
		}
		if len(acks) > 0 {
			r.observe(acks)
			if r.opts.OnAck != nil {
				for _, a := range acks {
					r.opts.OnAck(a)
				}
			}
			if r.opts.Store != nil {
				if err := r.store(ctx, acks); err != nil {
					return err
				}
			}
		}
		if len(recs) > 0 {
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
			if err := r.cl.CommitRecords(cctx, recs...); err != nil {
				r.opts.OnError(fmt.Errorf("control: ack recorder commit on topic %q: %w", r.opts.Topic, err))
			}
			ccancel()
		}
		select {
		case <-tick.C:
			r.checkDeadlines(ctx, time.Now())
		default:
		}
	}
	return nil
}

// ErrInvalidAck is wrapped when an ack record does not decode; such records
// are skipped.
var ErrInvalidAck = errors.New("invalid containment ack")

// decodeAck parses an ack record: JSON with a command id, a known status
// and a consumer.
func decodeAck(rec *kgo.Record) (models.CommandAck, error) {
	var a models.CommandAck
	err := json.Unmarshal(rec.Value, &a)
	switch {
	case err != nil:
	case a.CommandID == "":
		err = errors.New("missing command_id")
	case a.Status != models.AckApplied && a.Status != models.AckRefused && a.Status != models.AckFailed:
		err = fmt.Errorf("unknown status %q", clip(string(a.Status)))
	case a.Consumer == "":
		err = errors.New("missing consumer")
	}
	if err != nil {
		return a, fmt.Errorf("control: ack recorder topic %q partition %d offset %d: %w: %v", rec.Topic, rec.Partition, rec.Offset, ErrInvalidAck, err)
	}
	return a, nil
}

// store writes acks, retrying with backoff while ctx lasts (the offsets
// are not committed before they are stored).
func (r *Recorder) store(ctx context.Context, acks []models.CommandAck) error {
	backoff := 200 * time.Millisecond
	for {
		err := r.opts.Store.WriteAcks(ctx, acks)
		if err == nil {
			return nil
		}
		r.opts.OnError(fmt.Errorf("control: store %d acks (retrying in %s): %w", len(acks), backoff, err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (r *Recorder) observe(acks []models.CommandAck) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range acks {
		a := &acks[i]
		key := string(a.Status)
		if a.Status == models.AckRefused && slices.Contains(Reasons, Reason(a.Reason)) {
			key += ":" + a.Reason
		}
		r.statuses[key]++
		if a.Status != models.AckApplied {
			continue
		}
		delete(r.outstanding, a.CommandID)
		r.acked.add(models.ContainmentCommand{ID: a.CommandID, IssuedAt: a.IssuedAt}, a.AckedAt)
		if !r.published.has(a.CommandID) {
			continue // another replica's command: its recorder measures it
		}
		st := a.Stages()
		for _, s := range []struct {
			name string
			d    time.Duration
		}{{"event_to_finding", st.EventToFinding}, {"finding_to_command", st.FindingToCommand}, {"command_to_ack", st.CommandToAck}, {"time_to_contain", st.TimeToContain}} {
			h := r.hist[histKey{s.name, a.Action}]
			if h == nil {
				h = &histogram{}
				r.hist[histKey{s.name, a.Action}] = h
			}
			h.observe(s.d.Seconds())
		}
	}
}

// checkDeadlines reports commands past their deadline (and the oldest
// ones beyond MaxOutstanding) as containment_unacknowledged findings.
func (r *Recorder) checkDeadlines(ctx context.Context, now time.Time) {
	r.mu.Lock()
	var late []pending
	keep := r.order[:0]
	for _, id := range r.order {
		p, ok := r.outstanding[id]
		if !ok {
			continue
		}
		if now.After(p.deadline) || len(r.outstanding) > r.opts.MaxOutstanding {
			late = append(late, p)
			delete(r.outstanding, id)
			continue
		}
		keep = append(keep, id)
	}
	r.order = keep
	r.overdue += uint64(len(late))
	r.mu.Unlock()
	if len(late) == 0 || r.opts.Findings == nil {
		return
	}
	b := &sink.Batch{}
	for _, p := range late {
		c := p.cmd
		f := models.Finding{
			Detector: "containment", Kind: KindUnacknowledged, Severity: UnacknowledgedSeverity, Confidence: 1,
			Time: now.UTC(), AgentID: c.AgentID, RootAgentID: c.RootAgentID, SessionID: c.SessionID,
			Explanation: fmt.Sprintf("containment command %s (%s, severity %d) was not acknowledged as applied by any consumer within %s: the agent may still be acting",
				c.ID, c.Action, c.Severity, r.opts.Deadline),
			Features: []models.Feature{{Name: "ack_deadline_seconds", Observed: r.opts.Deadline.Seconds()}},
		}
		if f.RootAgentID == "" {
			f.RootAgentID = c.AgentID
		}
		f.EvidenceIDs = append(f.EvidenceIDs, c.FindingIDs...)
		f.SetID()
		b.Findings = append(b.Findings, f)
	}
	if err := r.opts.Findings.Write(ctx, b); err != nil {
		r.opts.OnError(fmt.Errorf("control: write %d containment_unacknowledged findings: %w", len(b.Findings), err))
	}
}

// Outstanding returns how many commands await an ack.
func (r *Recorder) Outstanding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.outstanding)
}

// Overdue returns how many commands were reported unacknowledged.
func (r *Recorder) Overdue() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overdue
}

// Quantile returns the q-quantile (0..1) of a stage ("event_to_finding",
// "finding_to_command", "command_to_ack", "time_to_contain") over every
// applied command of action ("" for all), interpolated within histogram
// buckets, and the number of observations.
func (r *Recorder) Quantile(stage string, action models.Action, q float64) (time.Duration, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum histogram
	for k, h := range r.hist {
		if k.stage == stage && (action == "" || k.action == action) {
			sum.merge(h)
		}
	}
	return time.Duration(sum.quantile(q) * float64(time.Second)), sum.count
}

var (
	stageDesc = prometheus.NewDesc("tether_containment_stage_seconds",
		"Time-to-contain stages of applied commands (event to finding, finding to command at the consumer, command to ack, event to ack).",
		[]string{"stage", "action"}, nil)
	acksDesc = prometheus.NewDesc("tether_containment_acks_total",
		"Acknowledgements read from the ack topic, by status (refusals by reason).", []string{"status"}, nil)
	outstandingDesc = prometheus.NewDesc("tether_containment_commands_outstanding",
		"Published commands awaiting an applied ack.", nil, nil)
	unackedDesc = prometheus.NewDesc("tether_containment_unacknowledged_total",
		"Commands not applied within the ack deadline (containment_unacknowledged findings).", nil, nil)
)

// Describe implements prometheus.Collector.
func (r *Recorder) Describe(ch chan<- *prometheus.Desc) {
	ch <- stageDesc
	ch <- acksDesc
	ch <- outstandingDesc
	ch <- unackedDesc
}

// Collect implements prometheus.Collector: the stage histograms
// (tether_containment_stage_seconds{stage,action}, of the commands this
// recorder saw published), acks by status, outstanding and unacknowledged
// commands.
func (r *Recorder) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, h := range r.hist {
		buckets := make(map[float64]uint64, len(histBuckets))
		var cum uint64
		for i, le := range histBuckets {
			cum += h.buckets[i]
			buckets[le] = cum
		}
		ch <- prometheus.MustNewConstHistogram(stageDesc, h.count, h.sum, buckets, k.stage, string(k.action))
	}
	for st, n := range r.statuses {
		ch <- prometheus.MustNewConstMetric(acksDesc, prometheus.CounterValue, float64(n), st)
	}
	ch <- prometheus.MustNewConstMetric(outstandingDesc, prometheus.GaugeValue, float64(len(r.outstanding)))
	ch <- prometheus.MustNewConstMetric(unackedDesc, prometheus.CounterValue, float64(r.overdue))
}

// Close closes the client; Run returns.
func (r *Recorder) Close() { r.cl.Close() }

// histBuckets are the upper bounds (seconds) of the stage histograms:
// from 1 ms to the framework's 60 s alert bar and beyond.
var histBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

type histogram struct {
	buckets [16]uint64 // per bucket of histBuckets (not cumulative)
	over    uint64     // above the last bound
	count   uint64
	sum     float64
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	for i, le := range histBuckets {
		if v <= le {
			h.buckets[i]++
			return
		}
	}
	h.over++
}

func (h *histogram) merge(o *histogram) {
	for i := range h.buckets {
		h.buckets[i] += o.buckets[i]
	}
	h.over += o.over
	h.count += o.count
	h.sum += o.sum
}

// quantile interpolates linearly within the bucket holding the q-quantile;
// above the last bound it returns the last bound.
func (h *histogram) quantile(q float64) float64 {
	if h.count == 0 {
		return 0
	}
	rank := q * float64(h.count)
	var cum float64
	lo := 0.0
	for i, le := range histBuckets {
		n := float64(h.buckets[i])
		if cum+n >= rank && n > 0 {
			return lo + (le-lo)*(rank-cum)/n
		}
		cum += n
		lo = le
	}
	return histBuckets[len(histBuckets)-1]
}
