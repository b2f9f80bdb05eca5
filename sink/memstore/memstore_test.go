package memstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink"
)

var t0 = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

func ev(session string, step int, kind models.Kind, tool string) *models.Event {
	return &models.Event{ID: fmt.Sprintf("%s-e%d", session, step), Kind: kind, Time: t0.Add(time.Duration(step) * 150 * time.Millisecond),
		AgentID: strings.Split(session, "-s")[0], SessionID: session, Step: step, ToolName: tool, Arguments: []byte(`{"q":"x"}`)}
}

func finding(session string, step int, sev uint8, evidence ...string) models.Finding {
	f := models.Finding{Time: t0.Add(time.Duration(step) * 150 * time.Millisecond), AgentID: strings.Split(session, "-s")[0], SessionID: session,
		Detector: "flow", Kind: "untrusted_to_sink", Severity: sev, Step: step, EvidenceIDs: evidence}
	f.RootAgentID = f.AgentID
	f.SetID()
	return f
}

func TestTimelineOrderAndReplay(t *testing.T) {
	s := New(DefaultOptions())
	b := &sink.Batch{
		// Out of step order within the batch, as partitions may deliver.
		Events: []*models.Event{ev("a-s1", 2, models.KindToolCall, "web.get"), ev("a-s1", 0, models.KindSessionStart, ""), ev("a-s1", 1, models.KindToolResult, "web.get")},
	}
	f := finding("a-s1", 2, 80, "a-s1-e1", "a-s1-e2")
	b.Findings = []models.Finding{f}
	c := models.ContainmentCommand{AgentID: "a", SessionID: "a-s1", Action: models.ActionSuspendSession, FindingIDs: []string{f.ID}, IssuedAt: t0.Add(time.Second)}
	c.SetID()
	b.Commands = []models.ContainmentCommand{c}
	for range 2 { // a replayed batch changes nothing
		if err := s.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.Session("a-s1")
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, e := range d.EventsList {
		steps = append(steps, e.Step)
	}
	if fmt.Sprint(steps) != "[0 1 2]" || len(d.Findings) != 1 || len(d.Commands) != 1 {
		t.Fatalf("timeline steps %v, %d findings, %d commands; want [0 1 2], 1, 1", steps, len(d.Findings), len(d.Commands))
	}
	if d.FirstAlert != f.Time || d.FirstCommand != c.IssuedAt {
		t.Errorf("first alert %v, first command %v", d.FirstAlert, d.FirstCommand)
	}
	fd, err := s.Finding(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(fd.Evidence) != 2 || fd.Evidence[1].ID != "a-s1-e2" || len(fd.Commands) != 1 {
		t.Errorf("finding page: evidence %v, commands %d", fd.Evidence, len(fd.Commands))
	}
	ag := s.Agents()
	if len(ag) != 1 || ag[0].Risk != 80 || ag[0].OpenFindings != 1 || ag[0].Containment != string(models.ActionSuspendSession) {
		t.Errorf("overview %+v", ag)
	}
}

func TestTriageClosesRisk(t *testing.T) {
	s := New(DefaultOptions())
	f := finding("a-s1", 1, 75, "a-s1-e1")
	_ = s.Write(context.Background(), &sink.Batch{Events: []*models.Event{ev("a-s1", 1, models.KindToolCall, "x")}, Findings: []models.Finding{f}})
	tests := []struct {
		status   triage.Status
		wantRisk uint8
		wantErr  error
	}{
		{triage.StatusAcknowledged, 75, nil},
		{triage.StatusFalsePositive, 0, nil},
		{triage.Status("bogus"), 0, triage.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			err := s.SetTriage(context.Background(), triage.Record{FindingID: f.ID, Status: tt.status, By: "ana", At: t0})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if got := s.Agents()[0].Risk; got != tt.wantRisk {
				t.Errorf("risk %d, want %d", got, tt.wantRisk)
			}
		})
	}
	if err := s.SetTriage(context.Background(), triage.Record{FindingID: "nope", Status: triage.StatusResolved, By: "ana", At: t0}); !errors.Is(err, ErrNotFound) {
		t.Errorf("triage of an unknown finding: %v", err)
	}
}

// TestBounds feeds far more than the bounds allow and checks every bound
// holds: sessions, event bytes, events per session, findings, agents.
func TestBounds(t *testing.T) {
	o := Options{MaxSessions: 50, MaxEventsPerSession: 20, MaxEventBytes: 64 << 10, MaxTextBytes: 100, MaxFindings: 30, MaxCommands: 10, MaxAgents: 40}
	s := New(o)
	long := strings.Repeat("é", 500)
	for a := range 100 {
		b := &sink.Batch{}
		for step := range 40 {
			e := ev(fmt.Sprintf("ag%03d-s1", a), step, models.KindToolResult, "t")
			e.Result = long
			b.Events = append(b.Events, e)
		}
		b.Findings = []models.Finding{finding(fmt.Sprintf("ag%03d-s1", a), 3, 60)}
		_ = s.Write(context.Background(), b)
	}
	st := s.Stats()
	if st.Sessions > o.MaxSessions || st.EventBytes > o.MaxEventBytes || st.Findings > o.MaxFindings || st.Agents > o.MaxAgents {
		t.Errorf("bounds exceeded: %+v (options %+v)", st, o)
	}
	last, err := s.Session("ag099-s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(last.EventsList) != o.MaxEventsPerSession || last.DroppedEvents != 20 {
		t.Errorf("kept %d events, dropped %d; want %d and 20", len(last.EventsList), last.DroppedEvents, o.MaxEventsPerSession)
	}
	if e := last.EventsList[0]; len(e.Result) > o.MaxTextBytes || !e.Truncated || !strings.HasPrefix(long, e.Result) {
		t.Errorf("result not cut on a rune boundary to %d bytes: %d bytes, truncated %v", o.MaxTextBytes, len(e.Result), e.Truncated)
	}
	if _, err := s.Session("ag000-s1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the oldest session was not evicted: %v", err)
	}
	t.Logf("after 100 sessions × 40 events: %+v", st)
}
