package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/control"
)

// TestDemo runs the demo's core on a few seconds of simulated traffic
// through the real pipeline (in-process broker, consumer group, detectors,
// Parquet and control-topic sinks) and checks the outcome: every agent
// that went rogue is flagged, no benign agent is, invalid records are
// dead-lettered, and the Parquet files are there.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline for several seconds")
	}
	defer goleak.VerifyNone(t)
	tests := []struct {
		name          string
		agents, rogue int
		seed          int64
	}{
		{"eight agents two rogue", 8, 2, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultDemoConfig()
			cfg.Duration = 6 * time.Second
			cfg.Rate = 1500
			cfg.Agents, cfg.Rogue, cfg.Seed = tc.agents, tc.rogue, tc.seed
			cfg.Out = filepath.Join(t.TempDir(), "demo")
			var live strings.Builder
			cfg.Live = &live
			rep, err := demo(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("live summary:\n%s", live.String())
			// The live line names severity bands as the metric and the views do.
			if !strings.Contains(live.String(), "(info ") || !strings.Contains(live.String(), " medium ") || !strings.Contains(live.String(), " critical ") {
				t.Errorf("live summary does not name the severity bands info…critical:\n%s", live.String())
			}
			var out strings.Builder
			printDemoReport(&out, rep)
			t.Logf("report:\n%s", out.String())

			if rep.Stats.DeadLettered != rep.Bad || rep.Bad != int64(cfg.BadRecords) {
				t.Errorf("dead-lettered %d of %d invalid records (configured %d)", rep.Stats.DeadLettered, rep.Bad, cfg.BadRecords)
			}
			if want := rep.Produced + rep.Bad; rep.Stats.Consumed != want {
				t.Errorf("consumed %d records, want %d", rep.Stats.Consumed, want)
			}
			if rep.ControlHandled != uint64(rep.Stats.Commands) {
				t.Errorf("enforcer applied %d commands from the control topic, pipeline issued %d", rep.ControlHandled, rep.Stats.Commands)
			}
			// The loop closes: every command and refusal is acknowledged and
			// read back; the forgeries are refused and halt nobody.
			if want := int(rep.Control.Handled + rep.Control.RefusedTotal()); rep.Acks < want || rep.Unacked != 0 {
				t.Errorf("%d acks read back, want %d; %d commands unacknowledged", rep.Acks, want, rep.Unacked)
			}
			if len(rep.Forged) != 2 || rep.Control.Refused[control.ReasonUnknownKey] != 1 || rep.Control.Refused[control.ReasonBadSignature] != 1 || rep.ForgedHalted {
				t.Errorf("forgeries %v: refused %v, target %s halted %v; want both refused and nobody halted", rep.Forged, rep.Control.Refused, rep.ForgedTarget, rep.ForgedHalted)
			}
			applied := 0
			for _, d := range rep.Contain {
				applied += len(d)
			}
			if rep.Stats.Commands > 0 && applied == 0 {
				t.Errorf("no time-to-contain measured for %d commands", rep.Stats.Commands)
			}
			files, _ := filepath.Glob(filepath.Join(cfg.Out, "findings-*.parquet"))
			if rep.Stats.Findings > 0 && len(files) == 0 {
				t.Errorf("%d findings but no findings Parquet file in %s", rep.Stats.Findings, cfg.Out)
			}
			if entries, _ := os.ReadDir(cfg.Out); len(entries) != len(rep.Files) {
				t.Errorf("%d entries in %s, %d files reported (leftover temporary files?)", len(entries), cfg.Out, len(rep.Files))
			}

			rogues := 0
			for _, a := range rep.Agents {
				if a.Halted && a.EmittedAfterHalt != 0 {
					t.Errorf("%s emitted %d events after its halt was applied", a.ID, a.EmittedAfterHalt)
				}
				switch {
				case a.Rogue && a.RogueSince.IsZero():
					t.Errorf("rogue agent %s never went rogue in %s: the run is too short for the warm-up", a.ID, cfg.Duration)
				case a.Rogue:
					rogues++
					// Flagged for what it did as a rogue, not for an earlier
					// false alarm.
					if a.MaxRogueSeverity < models.AlertThreshold {
						t.Errorf("rogue agent %s (%s, rogue since %s) not flagged after going rogue: max severity since %d (overall %d), findings %v",
							a.ID, a.Purpose, a.RogueSince.Format(time.TimeOnly), a.MaxRogueSeverity, a.MaxSeverity, a.Kinds)
					}
				case a.Flagged():
					t.Errorf("benign agent %s (%s, %s) flagged: max severity %d by %s/%s: %s (all findings: %v)",
						a.ID, a.Purpose, a.Autonomy, a.MaxSeverity, a.Top.Detector, a.Top.Kind, a.Top.Explanation, a.Kinds)
				}
			}
			if rogues != tc.rogue {
				t.Errorf("%d rogue agents in the report, want %d", rogues, tc.rogue)
			}
		})
	}
}
