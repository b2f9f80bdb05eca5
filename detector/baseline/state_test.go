package baseline

import (
	"testing"

	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

func TestStateRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(*Options)
	}{
		{"default", func(*Options) {}},
		// destinations on; small caps so eviction and rings are exercised
		{"destinations", func(o *Options) {
			o.NewDestination = true
			o.MaxAgents, o.MaxPeerGroups, o.MaxDestinationsPerAgent, o.MaxToolsPerAgent = 150, 3, 4, 5
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.opts(&o)
			statetest.RoundTrip(t, statetest.Fleet(200), 40_000, 40_000, func(*models.Inventory) statetest.Detector { return New(o) })
		})
	}
}

func TestStateRejects(t *testing.T) {
	for _, bad := range []string{
		`{"agents":[{"id":"a","grp":"nope"}]}`,
		`{"agents":[{"id":"a"},{"id":"a"}]}`,
		`{"agents":[{"id":"a","dn":3}]}`,
		`{"agents":[{"id":"a","models":["1","2","3","4","5"]}]}`,
		`{"groups":[{"name":"g"},{"name":"g"}]}`,
		`{"agents":[{"id":"a","tools":[{"n":"x"},{"n":"x"}]}]}`,
	} {
		if err := New(DefaultOptions()).UnmarshalState([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestKeyedHashDependsOnSeed(t *testing.T) {
	a, b := keyedHash(1, "s"), keyedHash(1, "s")
	if keyedHash(1, "s") == keyedHash(2, "s") || a != b || keyedHash(1, "a") == keyedHash(1, "b") {
		t.Fatal("keyedHash is not a seeded function of its input")
	}
}
