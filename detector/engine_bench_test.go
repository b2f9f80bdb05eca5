package detector_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
)

// BenchmarkEngineProcess measures the default detector set and containment
// policy on a steady fleet of registered agents (one op = one event).
func BenchmarkEngineProcess(b *testing.B) {
	tools := []models.ToolSpec{{Name: "search_web", Labels: []models.Label{models.LabelUntrustedContent}},
		{Name: "read_file", Labels: []models.Label{models.LabelPrivateData}}, {Name: "query_db"}, {Name: "send_email", Labels: []models.Label{models.LabelPublicSink}}}
	kinds := []models.Kind{models.KindReasoning, models.KindToolCall, models.KindToolResult}
	for _, n := range []int{10, 1000, 10_000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			inv := &models.Inventory{}
			evs := make([]models.Event, n)
			for i := range evs {
				id := fmt.Sprintf("agent-%05d", i)
				inv.Agents = append(inv.Agents, models.AgentSpec{ID: id, Owner: "o", Purpose: "p", Autonomy: models.AutonomySenior, Tools: tools})
				evs[i] = models.Event{SchemaVersion: 1, ID: "e-" + id, AgentID: id, SessionID: "s-" + id, RootAgentID: id}
			}
			if err := inv.Index(); err != nil {
				b.Fatal(err)
			}
			opts := detector.DefaultOptions()
			opts.Inventory = inv
			eng := detector.New(opts)
			var out detector.Output
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			findings := 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ev := &evs[i%n]
				round := i / n
				ev.Kind = kinds[round%len(kinds)]
				ev.ToolName = tools[(round/len(kinds))%len(tools)].Name
				ev.Time = start.Add(time.Duration(i) * 100 * time.Millisecond)
				ev.Step = round
				eng.Process(ev, &out)
				findings += len(out.Findings)
				out.Reset()
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(findings)/float64(b.N), "findings/event")
		})
	}
}
