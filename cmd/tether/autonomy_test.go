package main

import (
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

func TestAutonomyRecommendation(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	good := func() agentEvidence {
		return agentEvidence{AgentID: "a", Autonomy: models.AutonomyJunior, Operations: 5000, ErrorRate: 0.01,
			AtLevelSince: now.Add(-30 * 24 * time.Hour), TimeAtLevel: "30.0d", Containment: map[models.Action]uint64{}}
	}
	tests := []struct {
		name string
		edit func(*agentEvidence)
		want string
	}{
		{"every gate passes", func(*agentEvidence) {}, recPromotionReview},
		{"critical incident demotes", func(a *agentEvidence) { a.CriticalIncidents, a.Findings[4] = 1, 1 }, recDemote},
		{"a halt demotes", func(a *agentEvidence) { a.Containment[models.ActionHaltAgent] = 1 }, recDemote},
		{"a suspension demotes", func(a *agentEvidence) { a.Containment[models.ActionSuspendSession] = 2 }, recDemote},
		{"a review holds", func(a *agentEvidence) { a.Containment[models.ActionReview] = 1 }, recHold},
		{"a high finding holds", func(a *agentEvidence) { a.Findings[3] = 1 }, recHold},
		{"low findings do not hold", func(a *agentEvidence) { a.Findings[1] = 7 }, recPromotionReview},
		{"too few operations", func(a *agentEvidence) { a.Operations = gateMinOperations - 1 }, recHold},
		{"too many errors", func(a *agentEvidence) { a.ErrorRate = 0.05 }, recHold},
		{"too new at its level", func(a *agentEvidence) { a.AtLevelSince = now.Add(-24 * time.Hour) }, recHold},
		{"unknown time at level", func(a *agentEvidence) { a.AtLevelSince = time.Time{} }, recHold},
		{"principal cannot be promoted", func(a *agentEvidence) { a.Autonomy = models.AutonomyPrincipal }, recHold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := good()
			tt.edit(&a)
			a.recommend(now)
			if a.Recommendation != tt.want || len(a.Reasons) == 0 {
				t.Fatalf("recommendation %q (reasons %v), want %q with reasons", a.Recommendation, a.Reasons, tt.want)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "1d": 24 * time.Hour, "36h": 36 * time.Hour} {
		if got, err := parseSince(in); err != nil || got != want {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0d", "-1d", "xd", "soon"} {
		if _, err := parseSince(bad); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}
