package flow_test

import (
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/flow"
	"github.com/tetherhq/tether/models"
)

// TestScanTruncated: a text flow scans that exceeds MaxScanBytes raises one
// scan_truncated finding naming the text and both sizes; texts within the
// cap, texts flow does not scan and a zero cap raise none.
func TestScanTruncated(t *testing.T) {
	const limit = 64
	long := strings.Repeat("word ", 30) // 150 bytes
	short := strings.Repeat("x", limit)
	for _, tc := range []struct {
		name  string
		limit int
		steps []step
		want  string // explanation of the one finding; "" for none
	}{
		{"long result", limit, []step{result("s1", "read_web", long)}, "the result of read_web is 150 bytes: only the first 64 were scanned for values and instruction cues"},
		{"result at the cap", limit, []step{result("s1", "read_web", short)}, ""},
		{"long user message", limit, []step{user("s1", long)}, "the message is 150 bytes: only the first 64 were scanned for values and instruction cues"},
		{"long assistant message (not scanned)", limit, []step{{kind: models.KindMessage, session: "s1", role: "assistant", text: long}}, ""},
		{"long argument string", limit, []step{call("s1", "send_email", `{"to":"a@b.example","body":"`+long+`"}`)}, `argument "body" of send_email is 150 bytes: only the first 64 were scanned for values and instruction cues`},
		{"long arguments, short strings", limit, []step{call("s1", "calc", `{"a":"`+short[:40]+`","b":"`+short[:40]+`"}`)}, ""},
		{"no cap", 0, []step{result("s1", "read_web", long)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := flow.DefaultOptions()
			opts.MaxScanBytes = tc.limit
			var got []models.Finding
			for _, f := range run(t, flow.New(opts), agentSpec("a"), tc.steps) {
				if f.Kind == flow.KindScanTruncated {
					got = append(got, f)
				}
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Fatalf("unexpected finding: %s", got[0].Explanation)
			case tc.want != "" && len(got) != 1:
				t.Fatalf("%d scan_truncated findings, want 1", len(got))
			case tc.want != "":
				f := got[0]
				if f.Explanation != tc.want || f.Severity != flow.SeverityScanTruncated || len(f.EvidenceIDs) != 1 || f.EvidenceIDs[0] != "e1" {
					t.Errorf("finding %+v\nwant explanation %q", f, tc.want)
				}
			}
		})
	}
}
