package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/columns"
)

// full returns one record of every table with every column set to a
// non-zero value (checked by roundTrip), so that each column's round trip
// is observable.
func full(now time.Time) (ev *models.Event, f models.Finding, c models.ContainmentCommand, a models.CommandAck, r triage.Record) {
	end, exp := now.Add(time.Hour), now.Add(24*time.Hour)
	ev = &models.Event{
		SchemaVersion: 1, ID: "ev-full", Kind: models.KindToolCall, Time: now, AgentID: "agent-b", AgentName: "Billing bot",
		AgentVersion: "2.1", SessionID: "sess-1", Step: 7, Operation: "execute_tool", Role: models.RoleAssistant,
		ToolName: "http.post", ToolCallID: "call-1", Arguments: json.RawMessage(`{"body":"` + strings.Repeat("A", 64) + `"}`),
		Result: "ok", Content: "sending", Error: "timeout", Model: "m-1", RootAgentID: "agent-a", ParentAgentID: "agent-a",
		ParentSessionID: "sess-0", ChildAgentID: "agent-c", ChildSessionID: "sess-2", Principal: "alice",
		PrincipalSessionEnd: &end, CredentialID: "cred-9", CredentialExpiry: &exp, Autonomy: models.AutonomyJunior,
		DataClasses: []string{"pii", "finance"}, Resource: "invoices", Destination: "x.example", Bytes: 4242,
	}
	f = models.Finding{
		Time: now, AgentID: "agent-b", RootAgentID: "agent-a", SessionID: "sess-1", Principal: "alice", Detector: "egress",
		Kind: "new_destination", Subject: "x.example", Severity: 72, Confidence: 0.875, Explanation: "first post",
		EvidenceIDs: []string{"ev-full"}, Features: []models.Feature{{Name: "bytes_out", Observed: 4242, Baseline: 100, Spread: 20}},
		Step: 7, RuleID: "TTH-egress-new_destination", RulesetVersion: "1+abc", Exception: "EXC-1",
	}
	f.SetID()
	c = models.ContainmentCommand{
		AgentID: "agent-b", SessionID: "sess-1", CredentialID: "cred-9", RootAgentID: "agent-a", Action: models.ActionDemote,
		AutonomyBefore: models.AutonomySenior, TargetAutonomy: models.AutonomyIntern, Severity: 72, Reason: "egress",
		FindingIDs: []string{f.ID}, IssuedAt: now, ExpiresAt: exp, KeyID: "k1", Signature: "c2ln",
	}
	c.SetID()
	a = models.CommandAck{CommandID: c.ID, AgentID: "agent-b", Action: c.Action, Status: models.AckFailed, Reason: "handler: boom",
		Consumer: "iam", IssuedAt: now, AlertedAt: now.Add(20 * time.Millisecond), PublishedAt: now.Add(21 * time.Millisecond),
		ReceivedAt: now.Add(35 * time.Millisecond), AckedAt: now.Add(1536 * time.Millisecond)}
	r = triage.Record{FindingID: f.ID, Status: triage.StatusFalsePositive, Comment: "known tool", By: "bob", At: now.Add(time.Minute)}
	return
}

// TestIntegrationEveryColumnRoundTrips writes one record of every table
// and reads every inserted column back by name: the value the server
// returns is the one the column table's getter gave (times to the
// dialect's precision).
func TestIntegrationEveryColumnRoundTrips(t *testing.T) {
	o := testOptions(t)
	o.MaxTextBytes = 16 // cuts the arguments: truncated = 1
	w := openT(t, o)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond).Add(123 * time.Millisecond)
	ev, f, c, a, r := full(now)
	if err := w.Write(ctx, &sink.Batch{Events: []*models.Event{ev}, Findings: []models.Finding{f}, Commands: []models.ContainmentCommand{c}}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAcks(ctx, []models.CommandAck{a}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTriage(ctx, r); err != nil {
		t.Fatal(err)
	}
	e := columns.NewEvent(ev, o.MaxTextBytes)
	roundTrip(t, w, columns.Events, &e, "event_id = ?", ev.ID)
	roundTrip(t, w, columns.Findings, &f, "finding_id = ?", f.ID)
	roundTrip(t, w, columns.Commands, &c, "command_id = ?", c.ID)
	roundTrip(t, w, columns.Acks, &a, "command_id = ?", a.CommandID)
	roundTrip(t, w, columns.Triage, &r, "finding_id = ?", r.FindingID)
}

// roundTrip selects ct's inserted columns of the row matching where and
// compares each with Row's value for rec.
func roundTrip[T any](t *testing.T, w *Writer, ct columns.Table[T], rec *T, where string, arg any) {
	t.Run(ct.Name, func(t *testing.T) {
		cols := ct.Inserted()
		want := Row(ct, rec)
		names := make([]string, len(cols))
		dest := make([]any, len(cols))
		for i, c := range cols {
			names[i] = c.Name
			if reflect.ValueOf(want[i]).IsZero() {
				t.Errorf("%s: the sample leaves it zero; set it so its round trip is tested", c.Name)
			}
			dest[i] = reflect.New(reflect.TypeOf(want[i])).Interface()
		}
		q := fmt.Sprintf("SELECT %s FROM %s FINAL WHERE %s", strings.Join(names, ", "), w.schema.Qualified(ct.Name), where)
		if err := w.Conn().QueryRow(context.Background(), q, arg).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		p := precision(w.Dialect())
		for i, c := range cols {
			got := reflect.ValueOf(dest[i]).Elem().Interface()
			exp := want[i]
			switch c.Kind {
			case columns.Time, columns.Seconds:
				if g, e := got.(time.Time), exp.(time.Time).Truncate(p); !g.Equal(e) {
					t.Errorf("%s = %s, want %s", c.Name, g, e)
				}
				continue
			case columns.NullTime:
				if g, e := got.(*time.Time), exp.(*time.Time).Truncate(p); g == nil || !g.Equal(e) {
					t.Errorf("%s = %v, want %s", c.Name, g, e)
				}
				continue
			}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("%s = %#v, want %#v", c.Name, got, exp)
			}
		}
	})
}
