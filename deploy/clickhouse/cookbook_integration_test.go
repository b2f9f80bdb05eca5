package cookbook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/clickhouse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// corpus runs a simulated fleet (8 agents, 2 going rogue) through the real
// detectors and containment policy: events, findings and commands as the
// pipeline would write them.
func corpus(t *testing.T, events int) (*sink.Batch, *fleet.Fleet) {
	t.Helper()
	fo := fleet.DefaultOptions()
	fo.Agents, fo.Rogue, fo.Seed = 8, 2, 11
	fo.Start = time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	fl := fleet.New(fo)
	do := detector.DefaultOptions()
	do.Inventory = fl.Inventory()
	eng := detector.New(do)
	defer eng.Close()
	var out detector.Output
	b := &sink.Batch{}
	for _, ev := range fl.Take(events) {
		eng.Process(ev, &out)
		b.Events = append(b.Events, ev)
	}
	b.Findings, b.Commands = out.Findings, out.Commands
	return b, fl
}

// TestIntegrationCookbook writes a fleet's output to a fresh database on the
// real server and runs every cookbook query: each must be accepted and
// return rows, and the session timeline, evidence chain and commands of a
// rogue session's top finding must match what was written.
func TestIntegrationCookbook(t *testing.T) {
	addr := testenv.ClickHouse(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	o := clickhouse.DefaultOptions()
	o.Addr, o.Database = addr, "tether_cookbook_"+hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := clickhouse.Open(ctx, o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer func() {
		if err := w.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+o.Database); err != nil {
			t.Errorf("drop %s: %v", o.Database, err)
		}
	}()

	b, fl := corpus(t, 20000)
	// One crafted session whose alert comes 1.234 s after its first
	// evidence event: the detection times must keep the milliseconds.
	t1 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Add(456 * time.Millisecond)
	src := &models.Event{ID: "crafted-e1", Kind: models.KindToolResult, Time: t1, AgentID: "crafted", SessionID: "crafted-s1", Step: 4, ToolName: "web.get"}
	snk := &models.Event{ID: "crafted-e2", Kind: models.KindToolCall, Time: t1.Add(1234 * time.Millisecond), AgentID: "crafted", SessionID: "crafted-s1", Step: 9, ToolName: "http.post"}
	crafted := models.Finding{Time: snk.Time, AgentID: "crafted", RootAgentID: "crafted", SessionID: "crafted-s1", Detector: "flow",
		Kind: "untrusted_to_sink", Severity: 80, Step: 9, EvidenceIDs: []string{src.ID, snk.ID}}
	crafted.SetID()
	b.Events = append(b.Events, src, snk)
	b.Findings = append(b.Findings, crafted)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	// The known rogue session: the one with the most alert findings among
	// the rogue agents'; its most severe finding.
	rogue := map[string]bool{}
	for _, id := range fl.Rogues() {
		rogue[id] = true
	}
	alerts := map[string]int{}
	for _, f := range b.Findings {
		if rogue[f.RootAgentID] && f.Severity >= models.AlertThreshold {
			alerts[f.SessionID]++
		}
	}
	var session string
	for s, n := range alerts {
		if n > alerts[session] || (n == alerts[session] && s < session) {
			session = s
		}
	}
	if session == "" {
		t.Fatal("the corpus has no alerted rogue session")
	}
	var top models.Finding
	var inSession []models.Finding
	for _, f := range b.Findings {
		if f.SessionID == session {
			inSession = append(inSession, f)
			if f.Severity > top.Severity {
				top = f
			}
		}
	}
	var sessionEvents, topCommands int
	for _, e := range b.Events {
		if e.SessionID == session {
			sessionEvents++
		}
	}
	for _, c := range b.Commands {
		if slices.Contains(c.FindingIDs, top.ID) {
			topCommands++
		}
	}
	// Triage a few findings so the false-positive share has data.
	for i, st := range []triage.Status{triage.StatusFalsePositive, triage.StatusAcknowledged, triage.StatusResolved} {
		r := triage.Record{FindingID: b.Findings[i].ID, Status: st, By: "cookbook-test", At: time.Now().UTC()}
		if err := w.SetTriage(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	params := map[string]string{"session_id": session, "finding_id": top.ID, "root_agent_id": top.RootAgentID}
	t.Logf("%d events, %d findings, %d commands; session %s (%d events, %d findings), finding %s (%s/%s, %d commands)",
		len(b.Events), len(b.Findings), len(b.Commands), session, sessionEvents, len(inSession), top.ID, top.Detector, top.Kind, topCommands)

	want := map[string]int{ // exact row counts where the corpus fixes them
		"02_session_timeline":      sessionEvents + len(inSession),
		"03_finding_evidence":      len(top.EvidenceIDs),
		"04_finding_commands":      topCommands,
		"08_mttd_mttc_percentiles": 1,
	}
	// The session_detection view's MTTD for every alerted session, against
	// the same definition computed here from what was written.
	evTime := map[string]time.Time{}
	for _, e := range b.Events {
		evTime[e.ID] = e.Time
	}
	firstHarm, firstAlert := map[string]time.Time{}, map[string]time.Time{}
	for _, f := range b.Findings {
		if f.Severity < models.AlertThreshold {
			continue
		}
		if a, ok := firstAlert[f.SessionID]; !ok || f.Time.Before(a) {
			firstAlert[f.SessionID] = f.Time
		}
		for _, id := range f.EvidenceIDs {
			if et, ok := evTime[id]; ok {
				if h, seen := firstHarm[f.SessionID]; !seen || et.Before(h) {
					firstHarm[f.SessionID] = et
				}
			}
		}
	}
	rows, err := w.Conn().Query(ctx, "SELECT session_id, mttd_ms FROM "+o.Database+".session_detection")
	if err != nil {
		t.Fatal(err)
	}
	checked, positive := 0, 0
	for rows.Next() {
		var sid string
		var mttd int64
		if err := rows.Scan(&sid, &mttd); err != nil {
			t.Fatal(err)
		}
		if want := firstAlert[sid].Sub(firstHarm[sid]).Milliseconds(); mttd != want {
			t.Errorf("session_detection mttd_ms %d for %s, want %d", mttd, sid, want)
		}
		checked++
		if mttd > 0 {
			positive++
		}
		if sid == "crafted-s1" && mttd != 1234 {
			t.Errorf("crafted session: mttd_ms %d, want 1234", mttd)
		}
	}
	rows.Close()
	if checked != len(firstAlert) || positive == 0 {
		t.Errorf("session_detection: %d rows (%d with mttd > 0), want %d alerted sessions, the crafted one 1234 ms after its first harmful step", checked, positive, len(firstAlert))
	}
	t.Logf("session_detection: %d alerted sessions, %d detected after their first harmful step", checked, positive)

	qs := Queries()
	if len(qs) < 10 {
		t.Fatalf("%d cookbook queries, want at least 10", len(qs))
	}
	for _, q := range qs {
		t.Run(q.Name, func(t *testing.T) {
			sql, err := q.Render(o.Database, params)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := w.Conn().Query(ctx, sql)
			if err != nil {
				t.Fatalf("%v\n%s", err, sql)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d rows", q.Question, n)
			if w, ok := want[q.Name]; ok && n != w {
				t.Errorf("%d rows, want %d", n, w)
			}
			if n == 0 {
				t.Errorf("no rows")
			}
		})
	}
}
