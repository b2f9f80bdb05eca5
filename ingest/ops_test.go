package ingest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
)

func reasoningRecords(n int, agent string) []*kgo.Record {
	now := time.Now().UTC()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(agent),
			Value: event(fmt.Sprintf("%s-e%d", agent, i), agent, "s-"+agent, models.KindReasoning, now.Add(time.Duration(i)*time.Second))})
	}
	return recs
}

// TestShutdownRetriesUntilTimeout: a shutdown during a sink outage keeps
// retrying for ShutdownFlushTimeout (the README's promise); if the sink
// comes back in that window the batch is written and committed, otherwise
// Run ends with ErrUncommitted once the window has passed.
func TestShutdownRetriesUntilTimeout(t *testing.T) {
	const window = time.Second
	tests := []struct {
		name    string
		recover bool
	}{
		{"sink stays down", false},
		{"sink recovers during the window", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			recs := reasoningRecords(10, "a1")
			produce(t, c.ListenAddrs(), recs...)
			ms := newMemSink()
			ms.setFail(true)
			o := testOptions(c.ListenAddrs())
			o.ShutdownFlushTimeout = window
			cons, err := New(o, ms)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			r := start(cons)
			r.waitFor(t, "a failed write", func() bool { return cons.Stats().SinkErrors > 0 })
			stopAt := time.Now()
			r.cancel()
			before := cons.Stats().SinkErrors
			// Retries go on after the shutdown request.
			r.waitFor(t, "a retry after shutdown", func() bool { return cons.Stats().SinkErrors > before })
			if rd := cons.Metrics().Readiness(time.Now()); rd.Ready || !rd.ShuttingDown {
				t.Errorf("readiness during the shutdown window: %+v", rd)
			}
			if tt.recover {
				ms.setFail(false)
			}
			err = <-r.done
			took := time.Since(stopAt)
			st := cons.Stats()
			if tt.recover {
				if err != nil {
					t.Fatalf("Run: %v, want nil after the sink recovered", err)
				}
				if ev, _, _ := ms.counts(); ev != len(recs) || st.Commits != 1 {
					t.Fatalf("%d events written, %d commits; want %d and 1", ev, st.Commits, len(recs))
				}
				if took >= window {
					t.Errorf("took %s, want the recovered write to end the wait before %s", took, window)
				}
				return
			}
			if !errors.Is(err, ErrUncommitted) {
				t.Fatalf("Run: %v, want ErrUncommitted", err)
			}
			if took < window || took > window+2*time.Second {
				t.Errorf("Run returned %s after the shutdown request, want about %s", took, window)
			}
			if st.Commits != 0 {
				t.Errorf("%d commits, want none", st.Commits)
			}
		})
	}
}

// TestLagFromCommittedOffsets: while the sink is down no batch completes,
// yet the lag gauge shows every uncommitted record (it is the group's lag,
// not the lag of the last processed batch), readiness says why it is not
// ready, and both recover with the sink. On kfake and on the real broker
// (whose answer for a group not created yet differs).
func TestLagFromCommittedOffsets(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) Options
	}{
		{"kfake", func(t *testing.T) Options { return testOptions(newCluster(t).ListenAddrs()) }},
		{"real broker", func(t *testing.T) Options {
			broker := testenv.Kafka(t)
			suffix := fmt.Sprintf("%d", time.Now().UnixNano())
			o := testOptions([]string{broker})
			o.Topic, o.DeadLetterTopic, o.Group, o.StateTopic = "lag.events."+suffix, "lag.dlq."+suffix, "lag-"+suffix, ""
			testenv.CreateTopics(t, broker, 3, nil, o.Topic, o.DeadLetterTopic)
			return o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.setup(t)
			recs := reasoningRecordsTo(o.Topic, 25)
			produce(t, o.Brokers, recs...)
			ms := newMemSink()
			ms.setFail(true)
			o.LagInterval = 50 * time.Millisecond
			cons, err := New(o, ms)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			r := start(cons)
			r.waitFor(t, "lag of every record while the sink is down", func() bool {
				s := cons.Stats()
				return s.SinkErrors > 0 && s.Lag == int64(len(recs)) && s.GroupLag == int64(len(recs))
			})
			rd := cons.Metrics().Readiness(time.Now())
			if rd.Ready || rd.SinkHealthy || rd.SinkError == "" || !rd.BrokerReachable || rd.PartitionsAssigned != 3 {
				t.Fatalf("readiness during the outage: %+v", rd)
			}
			if !slices.Equal(rd.Reasons, []string{"sinks failing: batch not durable, retrying"}) {
				t.Errorf("reasons %q, want the sink alone", rd.Reasons)
			}
			ms.setFail(false)
			r.waitFor(t, "lag 0 and ready after the sink recovered", func() bool {
				return cons.Stats().Lag == 0 && cons.Metrics().Ready()
			})
			r.stop(t)
			st := cons.Stats()
			if n := sampleCount(t, cons.Metrics().findingLatency); st.Findings == 0 || n != uint64(st.Findings) {
				t.Errorf("event-to-finding histogram holds %d samples, want one per finding (%d)", n, st.Findings)
			}
			if n := sampleCount(t, cons.Metrics().batchSeconds); n != uint64(st.Batches) {
				t.Errorf("batch histogram holds %d samples, want one per batch (%d)", n, st.Batches)
			}
		})
	}
}

func sampleCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestCheckpointAge: the age is that of the oldest checkpoint among
// partitions holding records it does not cover, and 0 when none does.
func TestCheckpointAge(t *testing.T) {
	now := time.Now()
	m := NewMetrics()
	if a := m.checkpointAge(now); a != 0 {
		t.Fatalf("age %s with nothing processed, want 0", a)
	}
	m.setCheckpointState(0, true, now.Add(-90*time.Second))
	m.setCheckpointState(1, true, now.Add(-30*time.Second))
	m.setCheckpointState(2, false, now.Add(-time.Hour))
	if a := m.checkpointAge(now); a != 90*time.Second {
		t.Fatalf("age %s, want 90s (partition 0)", a)
	}
	m.setCheckpointState(0, false, now)
	if a := m.checkpointAge(now); a != 30*time.Second {
		t.Fatalf("age %s after partition 0 checkpointed, want 30s", a)
	}
	m.forgetPartition(1)
	if a := m.checkpointAge(now); a != 0 {
		t.Fatalf("age %s after partition 1 was revoked, want 0", a)
	}
}

// TestReadinessBrokerDown: readiness turns false with the broker's error
// when the brokers stop answering, although no batch is in flight.
func TestReadinessBrokerDown(t *testing.T) {
	c := newCluster(t)
	produce(t, c.ListenAddrs(), reasoningRecords(3, "a1")...)
	ms := newMemSink()
	o := testOptions(c.ListenAddrs())
	o.LagInterval = 50 * time.Millisecond
	cons, err := New(o, ms)
	if err != nil {
		t.Fatal(err)
	}
	r := start(cons)
	r.waitFor(t, "ready", func() bool { return cons.Stats().Commits > 0 && cons.Metrics().Ready() })
	c.Close()
	r.waitFor(t, "not ready with the broker down", func() bool {
		rd := cons.Metrics().Readiness(time.Now())
		return !rd.Ready && !rd.BrokerReachable && rd.BrokerError != "" && slices.Contains(rd.Reasons, "brokers not reachable")
	})
	if cons.Stats().LagRefreshErrors == 0 {
		t.Error("no lag refresh error counted")
	}
	r.stop(t)
	cons.Close()
}

func TestReadinessReasons(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		set   func(m *Metrics)
		ready bool
		want  []string
	}{
		{"not started", func(*Metrics) {}, false,
			[]string{"consumer not running", "brokers not reached yet", "no partitions assigned"}},
		{"no partitions", func(m *Metrics) {
			m.running.Store(true)
			m.observeBroker(nil, now)
		}, false, []string{"no partitions assigned"}},
		{"broker stale", func(m *Metrics) {
			m.running.Store(true)
			m.assigned.Store(2)
			m.observeBroker(nil, now.Add(-time.Hour))
		}, false, []string{"brokers not reachable"}},
		{"broker error", func(m *Metrics) {
			m.running.Store(true)
			m.assigned.Store(2)
			m.observeBroker(nil, now)
			m.observeBroker(errors.New("dial tcp: connection refused"), now)
		}, false, []string{"brokers not reachable"}},
		{"sink failing", func(m *Metrics) {
			m.running.Store(true)
			m.assigned.Store(1)
			m.observeBroker(nil, now)
			m.sinkHealthy.Store(false)
			m.setSinkError(errors.New("clickhouse: connection refused"))
		}, false, []string{"sinks failing: batch not durable, retrying"}},
		{"shutting down", func(m *Metrics) {
			m.running.Store(true)
			m.stopping.Store(true)
			m.assigned.Store(3)
			m.observeBroker(nil, now)
		}, false, []string{"shutting down"}},
		{"ready", func(m *Metrics) {
			m.running.Store(true)
			m.assigned.Store(3)
			m.observeBroker(nil, now)
		}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics()
			tt.set(m)
			rd := m.Readiness(now)
			if rd.Ready != tt.ready || !slices.Equal(rd.Reasons, tt.want) {
				t.Fatalf("ready %v reasons %q, want %v %q", rd.Ready, rd.Reasons, tt.ready, tt.want)
			}
		})
	}
}
