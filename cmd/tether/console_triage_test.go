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
