package profile

import (
	"bytes"
	"testing"
	"time"

	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

func TestStateRoundTrip(t *testing.T) {
	for _, caps := range [][2]int{{0, 0}, {40, 30}} { // small caps: agents and sessions are evicted
		o := DefaultOptions()
		if caps[0] > 0 {
			o.MaxAgents, o.MaxSessions = caps[0], caps[1]
		}
		statetest.RoundTrip(t, statetest.Fleet(200), 60_000, 60_000, func(*models.Inventory) statetest.Detector { return New(o) })
	}
}

func TestStateRejects(t *testing.T) {
	for _, bad := range []string{
		`{"agents":[{"id":"a","names":["x"],"rows":[0]}]}`,
		`{"agents":[{"id":"a","names":["START"],"rows":[]}]}`,
		`{"agents":[{"id":"a","names":["START"],"rows":[0],"trans":[[257,1]]}]}`,
		`{"agents":[{"id":"a","names":["START"],"rows":[0],"ring":[1]}]}`,
		`{"agents":[{"id":"a","names":["START"],"rows":[0]}],"sessions":[{"agent":"a","session":"s","prev":1}]}`,
		`{"sessions":[{"agent":"a","session":"s"},{"agent":"a","session":"s"}]}`,
	} {
		if err := New(DefaultOptions()).UnmarshalState([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// TestAgentEvictedMidSession: an agent evicted while its session is in
// flight and then tracked afresh must not index its new (smaller) tool
// table with the session's old states (this panicked), and the stale
// session must survive a snapshot.
func TestAgentEvictedMidSession(t *testing.T) {
	o := DefaultOptions()
	o.MaxAgents = 1
	d := New(o)
	call := func(d *Detector, agent, sess, tool string) {
		d.Observe(&models.Event{ID: agent + tool, AgentID: agent, SessionID: sess, Kind: models.KindToolCall, ToolName: tool, Time: time.Unix(0, 0)}, nil, func(models.Finding) {})
	}
	call(d, "a", "s1", "x")
	call(d, "a", "s1", "y")
	call(d, "b", "s2", "x") // evicts a; s1 is stale
	b, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r := New(o)
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Detector{d, r} {
		call(d, "a", "s1", "z") // a tracked afresh
		d.Observe(&models.Event{ID: "end", AgentID: "a", SessionID: "s1", Kind: models.KindSessionEnd}, nil, func(models.Finding) {})
	}
	b1, _ := d.MarshalState()
	b2, _ := r.MarshalState()
	if !bytes.Equal(b1, b2) {
		t.Fatalf("states differ:\n%s\n%s", b1, b2)
	}
}
