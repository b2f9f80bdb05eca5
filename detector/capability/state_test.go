package capability

import (
	"testing"

	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

func TestStateRoundTrip(t *testing.T) {
	statetest.RoundTrip(t, statetest.Fleet(200), 500, 20_000, func(inv *models.Inventory) statetest.Detector {
		return New(inv, DefaultOptions())
	})
}

func TestStateRejects(t *testing.T) {
	for _, bad := range []string{
		`{"agents":[{"id":"a"},{"id":"a"}]}`,
		`{"agents":[{"id":"a","d":["1","2","3","4","5","6","7","8","9"]}]}`,
	} {
		if err := New(nil, DefaultOptions()).UnmarshalState([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
