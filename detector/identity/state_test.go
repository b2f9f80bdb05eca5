package identity

import (
	"testing"

	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

func TestStateRoundTrip(t *testing.T) {
	statetest.RoundTrip(t, statetest.Fleet(200), 30_000, 30_000, func(*models.Inventory) statetest.Detector {
		return New(DefaultOptions())
	})
}

func TestStateCaps(t *testing.T) {
	o := DefaultOptions()
	o.MaxCredentials = 1
	d := New(o)
	if err := d.UnmarshalState([]byte(`{"creds":[{"id":"a"},{"id":"b"}]}`)); err == nil {
		t.Fatal("accepted more credentials than MaxCredentials")
	}
	if err := New(DefaultOptions()).UnmarshalState([]byte(`{"sessions":[{"id":"a"},{"id":"a"}]}`)); err == nil {
		t.Fatal("accepted a duplicate session")
	}
}
