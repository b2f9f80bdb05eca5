package baseline

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

func TestDestinations(t *testing.T) {
	tests := []struct {
		name string
		dest string
		kind models.Kind
		args string
		want []string
	}{
		{"destination host", "api.example.com", models.KindToolCall, "", []string{"api.example.com"}},
		{"destination url", "https://www.Example.com:8443/x?y=1", models.KindToolCall, "", []string{"example.com"}},
		{"destination email", "Bob@Corp.example", models.KindMessage, "", []string{"corp.example"}},
		{"opaque destination", " #Payments ", models.KindToolCall, "", []string{"#payments"}},
		{"arguments", "", models.KindToolCall, `{"to":"eve@evil.example","body":"see https://files.example.org/a.pdf and docs.internal.example"}`,
			[]string{"evil.example", "files.example.org", "docs.internal.example"}},
		{"arguments of a non-call are ignored", "", models.KindToolResult, `{"url":"https://x.example.com"}`, nil},
		{"no destinations in plain arguments", "", models.KindToolCall, `{"query":"quarterly sales","limit":10}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ev("a", "s", tt.kind, "send", 0)
			e.Destination = tt.dest
			if tt.args != "" {
				e.Arguments = json.RawMessage(tt.args)
			}
			var got []string
			destinations(e, func(s string) {
				if !slices.Contains(got, s) {
					got = append(got, s)
				}
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("destinations = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewDestination(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		history int    // warm-up tool calls sending to known.example.com
		dest    string // destination of the judged call
		args    string // arguments of the judged call
		want    int    // new_destination findings
		text    string
	}{
		{"disabled by default", false, 30, "new.example.com", "", 0, ""},
		{"new destination after warm-up", true, 30, "new.example.com", "", 1, "new.example.com"},
		{"known destination", true, 30, "known.example.com", "", 0, ""},
		{"during warm-up only learnt", true, 5, "new.example.com", "", 0, ""},
		{"new mail domain in arguments", true, 30, "", `{"to":"x@evil.example","cc":"y@known.example.com"}`, 1, "evil.example"},
		{"several new in one call: one finding", true, 30, "", `{"to":"x@a.example","url":"https://b.example/p","c":"c.example"}`, 1, "a.example, b.example, c.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.NewDestination = tt.enabled
			d := New(opts)
			var c collector
			for i := 0; i < tt.history; i++ {
				e := ev("a", "s", models.KindToolCall, "send", time.Duration(i)*time.Second)
				e.Destination = "https://known.example.com/api"
				d.Observe(e, nil, c.emit)
			}
			e := ev("a", "s", models.KindToolCall, "send", time.Duration(tt.history)*time.Second)
			e.Destination = tt.dest
			if tt.args != "" {
				e.Arguments = json.RawMessage(tt.args)
			}
			d.Observe(e, nil, c.emit)
			// The same destination again is no longer new.
			e.Time = e.Time.Add(time.Second)
			d.Observe(e, nil, c.emit)
			got := c.kinds()[KindNewDestination]
			if got != tt.want {
				t.Fatalf("new_destination = %d, want %d: %+v", got, tt.want, c)
			}
			if got == 0 {
				return
			}
			f := c[len(c)-1]
			if f.Severity != 35 || f.Severity >= models.AlertThreshold {
				t.Errorf("severity %d, want 35", f.Severity)
			}
			if !strings.Contains(f.Explanation, tt.text) {
				t.Errorf("explanation %q lacks %q", f.Explanation, tt.text)
			}
		})
	}
}

func TestDestSketchBounded(t *testing.T) {
	tests := []struct {
		limit, adds int
	}{{4, 3}, {4, 4}, {4, 10}, {256, 1000}}
	for _, tt := range tests {
		var s destSketch
		for i := 0; i < tt.adds; i++ {
			s.add(uint64(i+1), tt.limit)
		}
		if want := min(tt.adds, tt.limit); len(s.hashes) != want {
			t.Errorf("limit %d, %d adds: %d entries, want %d", tt.limit, tt.adds, len(s.hashes), want)
		}
		// The newest entries are kept, the oldest forgotten.
		if !s.has(uint64(tt.adds)) || (tt.adds > tt.limit && s.has(uint64(tt.adds-tt.limit))) {
			t.Errorf("limit %d, %d adds: ring did not forget the oldest first: %v", tt.limit, tt.adds, s.hashes)
		}
	}
}
