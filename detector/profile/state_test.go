package profile

import (
	"testing"

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
