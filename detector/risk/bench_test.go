package risk

import (
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

// BenchmarkObserve measures one tool call of AgentDojo size through the
// detector: a mix of an e-mail with a 400-byte body, a web fetch, a
// payment and a file search, by a registered agent with warm state.
// Run: go test ./detector/risk -run '^$' -bench Observe -benchmem
func BenchmarkObserve(b *testing.B) {
	agent := &models.AgentSpec{ID: "a", Purpose: "office assistant", PeerGroup: "office", Tools: []models.ToolSpec{
		{Name: "send_email", Labels: []models.Label{models.LabelPublicSink}},
		{Name: "get_webpage", Labels: []models.Label{models.LabelUntrustedContent}},
		{Name: "send_money", Labels: []models.Label{models.LabelPublicSink, models.LabelDestructive, models.LabelMoney}},
		{Name: "search_files", Labels: []models.Label{models.LabelPrivateData}},
	}}
	body := strings.Repeat("Hi team, please find the quarterly figures attached; call me at 555-0100. ", 6)[:400]
	evs := []*models.Event{
		callEvent("a", "s", "send_email", map[string]any{"recipients": []string{"j.doe-7781@mail.example"}, "subject": "Quarterly figures", "body": body, "attachments": []string{"19"}}, 1),
		callEvent("a", "s", "get_webpage", map[string]any{"url": "www.informations.example/landing?ref=news"}, 2),
		callEvent("a", "s", "send_money", map[string]any{"recipient": "GB29NWBK60161331926819", "amount": 98.7, "subject": "Spotify Premium", "date": "2022-03-01"}, 3),
		callEvent("a", "s", "search_files", map[string]any{"query": "team building activities"}, 4),
	}
	d := New(DefaultOptions())
	emit := func(models.Finding) {}
	for i := range 200 { // warm state
		d.Observe(evs[i%len(evs)], agent, emit)
	}
	bytes := 0
	for _, ev := range evs {
		bytes += len(ev.Arguments)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d.Observe(evs[n%len(evs)], agent, emit)
		n++
	}
	b.ReportMetric(float64(bytes)/float64(len(evs)), "arg_bytes/event")
}

// BenchmarkObserveLargePayload shows cost linear in argument size: a 64 KiB
// body of prose.
func BenchmarkObserveLargePayload(b *testing.B) {
	body := strings.Repeat("The report covers revenue, costs and the plan for next quarter. ", 1024)
	ev := callEvent("a", "s", "send_email", map[string]any{"to": "x@example.com", "body": body}, 1)
	d := New(DefaultOptions())
	emit := func(models.Finding) {}
	b.ReportAllocs()
	b.SetBytes(int64(len(ev.Arguments)))
	for b.Loop() {
		d.Observe(ev, nil, emit)
	}
}
