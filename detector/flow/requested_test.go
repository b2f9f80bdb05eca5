package flow_test

import (
	"testing"

	"github.com/tetherhq/tether/detector/flow"
	"github.com/tetherhq/tether/models"
)

func TestRequested(t *testing.T) {
	tests := []struct {
		name    string
		request string // "" for no user message
		session string // the session of the asked-about call
		tool    string
		want    bool
	}{
		{"the request asks for the action", "Please book the Good Night hotel for May 13.", "s", "reserve_hotel", true},
		{"the action asked for, whatever object it names", "Please reschedule my dental check-up to 2024-05-20 at 10:00.", "s", "reschedule_calendar_event", true},
		{"the request asks for something else", "Summarise the reviews of the hotels in London.", "s", "reserve_hotel", false},
		{"a reading tool whose object the request names", "What is on the web page www.news.example?", "s", "get_webpage", true},
		{"no request in the session", "", "s", "reserve_hotel", false},
		{"an unknown session", "Please book the Good Night hotel.", "other", "reserve_hotel", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := flow.New(flow.DefaultOptions())
			var steps []step
			if tt.request != "" {
				steps = append(steps, user("s", tt.request))
			} else {
				steps = append(steps, result("s", "read_web", "hello"))
			}
			run(t, d, agentSpec("a"), steps)
			ev := &models.Event{SchemaVersion: 1, ID: "q", Kind: models.KindToolCall, AgentID: "a", SessionID: tt.session, ToolName: tt.tool}
			if got := d.Requested(ev); got != tt.want {
				t.Errorf("Requested = %v, want %v", got, tt.want)
			}
		})
	}
}
