package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/clickhouse"
	"github.com/tetherhq/tether/sink/memstore"
)

// TestConsoleTriageToClickHouse posts a triage decision to the daemon's
// console wiring (consoleHandler over the sinks) and reads it back from the
// real server's triage table and from the console.
func TestConsoleTriageToClickHouse(t *testing.T) {
	addr := testenv.ClickHouse(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	o := clickhouse.DefaultOptions()
	o.Addr, o.Database = addr, "tether_console_"+hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := clickhouse.Open(ctx, o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	defer func() { _ = ch.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+o.Database) }()

	store := newConsoleStore(nil)
	f := models.Finding{Time: time.Now().UTC(), AgentID: "a", RootAgentID: "a", SessionID: "a-s1", Detector: "flow", Kind: "untrusted_to_sink", Severity: 80, EvidenceIDs: []string{"e1"}}
	f.SetID()
	sinks := sink.Multi{ch, store}
	if err := sinks.Write(ctx, &sink.Batch{Findings: []models.Finding{f}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(consoleHandler(store, sinks, "", "test"))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/findings/"+f.ID+"/triage", "application/json",
		strings.NewReader(`{"status":"accepted_risk","comment":"known export","by":"ana"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("triage: %s", resp.Status)
	}
	var status, by string
	if err := ch.Conn().QueryRow(ctx, "SELECT argMax(status, at_ms), argMax(set_by, at_ms) FROM "+o.Database+".triage WHERE finding_id = ?", f.ID).Scan(&status, &by); err != nil {
		t.Fatal(err)
	}
	if status != "accepted_risk" || by != "ana" {
		t.Errorf("ClickHouse triage: status %q by %q, want accepted_risk by ana", status, by)
	}
	if d, err := store.Finding(f.ID); err != nil || d.Finding.Status != "accepted_risk" {
		t.Errorf("console status %v (%v), want accepted_risk", d.Finding.Status, err)
	}
}

// TestConsoleHistoryFromClickHouse: a session written to ClickHouse but not
// to the console's memory (evicted, or from before a restart) is still
// shown, with its events in step order, its findings with millisecond
// times, its commands and its triage; it can be triaged from the console.
func TestConsoleHistoryFromClickHouse(t *testing.T) {
	addr := testenv.ClickHouse(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	o := clickhouse.DefaultOptions()
	o.Addr, o.Database = addr, "tether_history_"+hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := clickhouse.Open(ctx, o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	defer func() { _ = ch.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+o.Database) }()

	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour + 250*time.Millisecond)
	evs := []*models.Event{
		{ID: "h2", Kind: models.KindToolCall, Time: t0.Add(700 * time.Millisecond), AgentID: "a", SessionID: "old-s1", Step: 2, ToolName: "http.post", Arguments: []byte(`{"x":1}`), Destination: "https://d.example"},
		{ID: "h1", Kind: models.KindToolResult, Time: t0, AgentID: "a", SessionID: "old-s1", Step: 1, ToolName: "web.get", Result: "page", DataClasses: []string{"pii"}},
	}
	f := models.Finding{Time: evs[0].Time, AgentID: "a", RootAgentID: "a", SessionID: "old-s1", Detector: "flow", Kind: "untrusted_to_sink", Severity: 80, Step: 2,
		EvidenceIDs: []string{"h1", "h2"}, Features: []models.Feature{{Name: "z", Observed: 3, Baseline: 1, Spread: 0.5}}}
	f.SetID()
	c := models.ContainmentCommand{AgentID: "a", SessionID: "old-s1", Action: models.ActionSuspendSession, Severity: 80, FindingIDs: []string{f.ID}, IssuedAt: f.Time}
	c.SetID()
	if err := ch.Write(ctx, &sink.Batch{Events: evs, Findings: []models.Finding{f}, Commands: []models.ContainmentCommand{c}}); err != nil {
		t.Fatal(err)
	}
	store := newConsoleStore(nil) // empty: nothing of old-s1 in memory
	srv := httptest.NewServer(consoleHandler(store, sink.Multi{ch, store}, "", "test"))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/api/findings/"+f.ID+"/triage", "application/json", strings.NewReader(`{"status":"resolved","by":"ana"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("triage of a finding only in ClickHouse: %s", resp.Status)
	}
	var sess memstore.SessionDetail
	if err := getJSON(srv.URL+"/api/sessions/old-s1", &sess); err != nil {
		t.Fatal(err)
	}
	if len(sess.EventsList) != 2 || sess.EventsList[0].ID != "h1" || !sess.EventsList[1].Time.Equal(evs[0].Time) ||
		len(sess.Findings) != 1 || !sess.Findings[0].Time.Equal(f.Time) || len(sess.Commands) != 1 || sess.Findings[0].Status != "resolved" {
		t.Errorf("session from history: %+v", sess)
	}
	var fd memstore.FindingDetail
	if err := getJSON(srv.URL+"/api/findings/"+f.ID, &fd); err != nil {
		t.Fatal(err)
	}
	if len(fd.Evidence) != 2 || len(fd.Commands) != 1 || len(fd.Finding.Features) != 1 || len(fd.Triage) != 1 {
		t.Errorf("finding from history: %+v", fd)
	}
	if err := getJSON(srv.URL+"/api/sessions/never", &sess); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown session: %v, want 404", err)
	}
}
