package outputs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

// agentDojoInbox renders an AgentDojo-sized result (~2 KiB): a YAML list of
// e-mails as the workspace suite's tools print them.
func agentDojoInbox(i int) string {
	var b strings.Builder
	for k := range 4 {
		fmt.Fprintf(&b, "- attachments: []\n  bcc: []\n  body: Hi team, the quarterly review moved to room %d. Please bring the slides and the budget figures for item %d.\n  cc: []\n  id_: '%d'\n  read: true\n  recipients:\n  - emma.johnson@bluesparrowtech.example\n  sender: colleague%d@bluesparrowtech.example\n  status: received\n  subject: Review %d\n  timestamp: 2024-05-%02d 10:%02d:00\n", i+k, k, i*4+k, k, i, 1+k, k)
	}
	return b.String()
}

// BenchmarkAssess measures one AgentDojo-sized result on a warm baseline.
func BenchmarkAssess(b *testing.B) {
	d := New(DefaultOptions())
	spec := &models.AgentSpec{ID: "a1", PeerGroup: "workspace"}
	for i := range 50 {
		d.Assess(result(fmt.Sprint("w", i), "a1", "get_received_emails", agentDojoInbox(i)), spec)
	}
	evs := make([]*models.Event, 64)
	for i := range evs {
		evs[i] = result(fmt.Sprint("e", i), "a1", "get_received_emails", agentDojoInbox(i))
	}
	b.SetBytes(int64(len(evs[0].Result)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := evs[i%len(evs)]
		d.last = nil // a new event each time
		d.Assess(ev, spec)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
