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
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/clickhouse"
	"github.com/tetherhq/tether/triage"
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
