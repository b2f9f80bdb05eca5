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

// TestUrgentBeforeEvents: the daemon writes a batch's commands and the
// findings they name before the batch's events (the urgent part first), so
// a session's first finding and command can arrive before its first event;
// they must still be on the session's page, and the session's span and
// parent come from its events.
func TestUrgentBeforeEvents(t *testing.T) {
	s := New(DefaultOptions())
	f := finding("a-s1", 0, 90, "a-s1-e0")
	c := models.ContainmentCommand{AgentID: "a", SessionID: "a-s1", Action: models.ActionHaltAgent, FindingIDs: []string{f.ID}, IssuedAt: t0.Add(-time.Hour)}
	c.SetID()
	ctx := context.Background()
	if err := s.Write(ctx, &sink.Batch{Findings: []models.Finding{f}, Commands: []models.ContainmentCommand{c}}); err != nil {
		t.Fatal(err)
	}
	start := ev("a-s1", 0, models.KindSessionStart, "")
	start.ParentSessionID = "p-s9"
	if err := s.Write(ctx, &sink.Batch{Events: []*models.Event{start, ev("a-s1", 1, models.KindToolCall, "web.get")}}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Session("a-s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Findings) != 1 || len(d.Commands) != 1 || len(d.EventsList) != 2 {
		t.Fatalf("session page: %d findings, %d commands, %d events; want 1, 1, 2", len(d.Findings), len(d.Commands), len(d.EventsList))
	}
	// the command's wall-clock issue time is not part of the session's span
	if !d.Start.Equal(t0) || !d.Last.Equal(t0.Add(150*time.Millisecond)) || d.ParentSessionID != "p-s9" {
		t.Errorf("session span %v–%v parent %q; want %v–%v, p-s9", d.Start, d.Last, d.ParentSessionID, t0, t0.Add(150*time.Millisecond))
	}
	a, err := s.Agent("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.RecentSessions) != 1 {
		t.Errorf("agent lists %d sessions, want 1", len(a.RecentSessions))
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

func TestAcks(t *testing.T) {
	o := DefaultOptions()
	o.MaxAckedCommands = 2
	s := New(o)
	ctx := context.Background()
	f := finding("a-s1", 1, 80, "a-s1-e1")
	c := models.ContainmentCommand{AgentID: "a", SessionID: "a-s1", Action: models.ActionHaltAgent, FindingIDs: []string{f.ID}, IssuedAt: t0.Add(time.Second)}
	c.SetID()
	if err := s.Write(ctx, &sink.Batch{Events: []*models.Event{ev("a-s1", 1, models.KindToolCall, "http.post")}, Findings: []models.Finding{f},
		Commands: []models.ContainmentCommand{c}}); err != nil {
		t.Fatal(err)
	}
	applied := models.CommandAck{CommandID: c.ID, AgentID: "a", Action: c.Action, Status: models.AckApplied, Consumer: "enforcer",
		IssuedAt: f.Time, ReceivedAt: f.Time.Add(40 * time.Millisecond), AckedAt: f.Time.Add(55 * time.Millisecond)}
	refused := applied
	refused.Consumer, refused.Status, refused.Reason = "other", models.AckRefused, "bad_signature"
	clear := models.CommandAck{CommandID: "clear-1", AgentID: "a", Action: models.ActionClear, Status: models.AckApplied, Consumer: "enforcer",
		IssuedAt: t0.Add(time.Minute), AckedAt: t0.Add(time.Minute + time.Millisecond)}
	for range 2 { // a replayed ack is kept once
		if err := s.WriteAcks(ctx, []models.CommandAck{applied, refused, clear}); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := s.Finding(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(fd.Acks) != 2 || fd.Acks[0].Consumer != "enforcer" || fd.Acks[0].TimeToContainMillis != 55 || fd.Acks[1].Reason != "bad_signature" {
		t.Errorf("finding acks %+v, want applied by enforcer (55 ms) and refused (bad_signature)", fd.Acks)
	}
	sd, _ := s.Session("a-s1")
	if len(sd.Acks) != 2 {
		t.Errorf("session acks %d, want 2", len(sd.Acks))
	}
	ad, _ := s.Agent("a")
	if len(ad.Acks) != 3 || ad.Acks[2].Action != models.ActionClear {
		t.Errorf("agent acks %+v, want the command's two and the clear", ad.Acks)
	}
	// Bounded: a third acknowledged command evicts the first.
	if err := s.WriteAcks(ctx, []models.CommandAck{{CommandID: "x", AgentID: "b", Status: models.AckApplied, Consumer: "e"}}); err != nil {
		t.Fatal(err)
	}
	if fd, _ := s.Finding(f.ID); len(fd.Acks) != 0 || s.Stats().AckedCommands != 2 {
		t.Errorf("after eviction: finding acks %d, %d acked commands kept; want 0, 2", len(fd.Acks), s.Stats().AckedCommands)
	}
}
