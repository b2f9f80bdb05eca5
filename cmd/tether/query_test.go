package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/parquet"
)

// fleetOutput runs a simulated fleet (8 agents, 2 going rogue, as the demo
// does) through the real detectors and writes the Parquet series to dir.
func fleetOutput(t *testing.T, dir string, events int) *sink.Batch {
	t.Helper()
	fo := fleet.DefaultOptions()
	fo.Agents, fo.Rogue, fo.Seed = 8, 2, 11
	fl := fleet.New(fo)
	do := detector.DefaultOptions()
	do.Inventory = fl.Inventory()
	eng := detector.New(do)
	defer eng.Close()
	var out detector.Output
	b := &sink.Batch{}
	po := parquet.DefaultOptions()
	po.Dir, po.Events, po.RollRows, po.EventRollRows, po.Sync = dir, true, 20000, 5000, false
	pw, err := parquet.New(po)
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	evs := fl.Take(events)
	for i := 0; i < len(evs); i += 1000 { // batches, as the consumer writes them
		out.Reset()
		for _, ev := range evs[i:min(i+1000, len(evs))] {
			eng.Process(ev, &out)
		}
		part := &sink.Batch{Events: evs[i:min(i+1000, len(evs))], Findings: slices.Clone(out.Findings), Commands: slices.Clone(out.Commands)}
		if err := pw.Write(context.Background(), part); err != nil {
			t.Fatal(err)
		}
		b.Events = append(b.Events, part.Events...)
		b.Findings = append(b.Findings, part.Findings...)
		b.Commands = append(b.Commands, part.Commands...)
	}
	return b
}

func queryJSON(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	var out strings.Builder
	if err := runQuery(append([]string{"--json"}, args...), &out); err != nil {
		t.Fatalf("tether query %v: %v", args, err)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out.String()), &rows); err != nil {
		t.Fatalf("tether query %v: %v\n%s", args, err, out.String())
	}
	return rows
}

// TestQueryOnParquet answers every `tether query` question on a fleet's
// Parquet output and checks the answers against what was written.
func TestQueryOnParquet(t *testing.T) {
	dir := t.TempDir()
	b := fleetOutput(t, dir, 20000)
	var top models.Finding
	for _, f := range b.Findings {
		if f.Severity > top.Severity {
			top = f
		}
	}
	if top.Severity < models.AlertThreshold {
		t.Fatalf("no alert in %d findings", len(b.Findings))
	}
	var sessionRows, topCmds, alertedSessions = 0, 0, map[string]bool{}
	for _, f := range b.Findings {
		if f.SessionID == top.SessionID {
			sessionRows++
		}
		if f.Severity >= models.AlertThreshold {
			alertedSessions[f.SessionID] = true
		}
	}
	for _, e := range b.Events {
		if e.SessionID == top.SessionID {
			sessionRows++
		}
	}
	for _, c := range b.Commands {
		if c.SessionID == top.SessionID {
			sessionRows++
		}
		if slices.Contains(c.FindingIDs, top.ID) {
			topCmds++
		}
	}
	tests := []struct {
		args  []string
		check func(t *testing.T, rows []map[string]string)
	}{
		{[]string{"top-agents"}, func(t *testing.T, rows []map[string]string) {
			if len(rows) == 0 || rows[0]["risk"] != strconv.Itoa(int(top.Severity)) {
				t.Errorf("riskiest agent %v, want risk %d", rows[:min(1, len(rows))], top.Severity)
			}
		}},
		{[]string{"session", top.SessionID}, func(t *testing.T, rows []map[string]string) {
			if len(rows) != sessionRows {
				t.Errorf("%d rows, want %d events, findings and commands", len(rows), sessionRows)
			}
			// Ordered by step, findings after the events of their step.
			last, lastSrc := -1, ""
			for _, r := range rows {
				if r["source"] == "command" {
					continue
				}
				step, _ := strconv.Atoi(r["step"])
				if step < last || (step == last && lastSrc == "finding" && r["source"] == "event") {
					t.Errorf("row %v out of order after step %d %s", r, last, lastSrc)
				}
				last, lastSrc = step, r["source"]
			}
		}},
		{[]string{"finding", top.ID}, func(t *testing.T, rows []map[string]string) {
			if want := 1 + len(top.EvidenceIDs) + topCmds; len(rows) != want {
				t.Errorf("%d rows, want the finding, %d evidence ids and %d commands", len(rows), len(top.EvidenceIDs), topCmds)
			}
			for _, r := range rows {
				if r["part"] == "evidence" && r["time"] == "" {
					t.Errorf("evidence event %s without its event", r["id"])
				}
			}
		}},
		{[]string{"blast-radius", top.RootAgentID}, func(t *testing.T, rows []map[string]string) {
			if !slices.ContainsFunc(rows, func(r map[string]string) bool { return r["agent_id"] == top.AgentID }) {
				t.Errorf("blast radius of %s lacks %s: %v", top.RootAgentID, top.AgentID, rows)
			}
		}},
		{[]string{"detection-times"}, func(t *testing.T, rows []map[string]string) {
			if len(rows) != len(alertedSessions) {
				t.Errorf("%d rows, want %d alerted sessions", len(rows), len(alertedSessions))
			}
		}},
		{[]string{"percentiles"}, func(t *testing.T, rows []map[string]string) {
			if len(rows) != 1 || rows[0]["alerted_sessions"] != strconv.Itoa(len(alertedSessions)) {
				t.Errorf("percentiles %v, want %d alerted sessions", rows, len(alertedSessions))
			}
		}},
		{[]string{"autonomy"}, func(t *testing.T, rows []map[string]string) {
			n := 0
			for _, r := range rows {
				v, _ := strconv.Atoi(r["findings"])
				n += v
			}
			if n != len(b.Findings) {
				t.Errorf("findings per autonomy level add up to %d, want %d", n, len(b.Findings))
			}
		}},
		{[]string{"promotion-review"}, func(t *testing.T, rows []map[string]string) {
			if len(rows) == 0 {
				t.Error("no agent eligible")
			}
			for _, r := range rows {
				for _, f := range b.Findings {
					if f.AgentID == r["agent_id"] && f.Severity >= models.AlertThreshold {
						t.Errorf("%s has an alert but is listed for promotion", r["agent_id"])
					}
				}
			}
		}},
		{[]string{"agent-daily"}, func(t *testing.T, rows []map[string]string) {
			n := 0
			for _, r := range rows {
				v, _ := strconv.Atoi(r["events"])
				n += v
			}
			if n != len(b.Events) {
				t.Errorf("daily events add up to %d, want %d", n, len(b.Events))
			}
		}},
		{[]string{"noisiest"}, func(t *testing.T, rows []map[string]string) {
			if len(rows) == 0 {
				t.Error("no rows")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			rows := queryJSON(t, append([]string{"--dir", dir}, tt.args...)...)
			tt.check(t, rows)
		})
	}
	var out strings.Builder
	if err := runQuery([]string{"--dir", dir, "percentiles"}, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("tether query percentiles:\n%s", out.String())
	if err := runQuery([]string{"--dir", dir, "finding"}, &out); err == nil {
		t.Error("finding without an id was accepted")
	}
}
