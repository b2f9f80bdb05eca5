package control

import (
	"context"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// TestRecorderMetricsAndDeadlines drives a Recorder without a broker:
// published commands are outstanding until an applied ack, the stage
// histograms and status counters appear on /metrics, and a command past
// its deadline becomes one containment_unacknowledged finding.
func TestRecorderMetricsAndDeadlines(t *testing.T) {
	mem := &memAcks{}
	o := DefaultRecorderOptions()
	o.Brokers, o.Group, o.Deadline, o.Findings = []string{"127.0.0.1:1"}, "g", time.Minute, mem
	r, err := NewRecorder(o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, b := command("a", "s", models.ActionHaltAgent, "f1"), command("b", "s", models.ActionReview, "f2")
	if err := r.Write(context.Background(), &sink.Batch{Commands: []models.ContainmentCommand{a, b, a}}); err != nil {
		t.Fatal(err)
	}
	if r.Outstanding() != 2 {
		t.Fatalf("%d outstanding, want 2", r.Outstanding())
	}
	at := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
	r.observe([]models.CommandAck{
		{CommandID: a.ID, AgentID: "a", Action: a.Action, Status: models.AckApplied, Consumer: "g",
			IssuedAt: at, AlertedAt: at.Add(30 * time.Millisecond), ReceivedAt: at.Add(40 * time.Millisecond), AckedAt: at.Add(42 * time.Millisecond)},
		{CommandID: "forged", AgentID: "a", Action: models.ActionHaltAgent, Status: models.AckRefused, Reason: string(ReasonBadSignature), Consumer: "g"},
	})
	if r.Outstanding() != 1 {
		t.Fatalf("%d outstanding after the ack, want 1", r.Outstanding())
	}
	// A replay of the acked command is not outstanding again.
	if err := r.Write(context.Background(), &sink.Batch{Commands: []models.ContainmentCommand{a}}); err != nil || r.Outstanding() != 1 {
		t.Fatalf("replayed command outstanding again (%d, %v)", r.Outstanding(), err)
	}
	if p50, n := r.Quantile("time_to_contain", models.ActionHaltAgent, 0.5); n != 1 || p50 < 25*time.Millisecond || p50 > 50*time.Millisecond {
		t.Fatalf("time_to_contain p50 %s over %d, want 25..50ms (bucket of 42 ms) over 1", p50, n)
	}
	expo, err := testutil.CollectAndFormat(r, expfmt.TypeTextPlain, "tether_containment_stage_seconds", "tether_containment_acks_total",
		"tether_containment_commands_outstanding", "tether_containment_unacknowledged_total")
	if err != nil {
		t.Fatal(err)
	}
	m := string(expo)
	for _, want := range []string{
		`tether_containment_stage_seconds_bucket{action="halt_agent",stage="time_to_contain",le="0.05"} 1`,
		`tether_containment_stage_seconds_count{action="halt_agent",stage="command_to_ack"} 1`,
		`tether_containment_acks_total{status="refused:bad_signature"} 1`,
		`tether_containment_acks_total{status="applied"} 1`,
		"tether_containment_commands_outstanding 1",
		"tether_containment_unacknowledged_total 0",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	r.checkDeadlines(context.Background(), time.Now().Add(2*time.Minute))
	if _, n := mem.counts(); n != 1 || mem.findings[0].AgentID != "b" || mem.findings[0].Kind != KindUnacknowledged || r.Overdue() != 1 || r.Outstanding() != 0 {
		t.Fatalf("findings %+v, overdue %d, outstanding %d: want one for b", mem.findings, r.Overdue(), r.Outstanding())
	}
}
