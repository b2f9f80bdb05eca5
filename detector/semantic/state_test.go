package semantic

import (
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

func TestStateRoundTrip(t *testing.T) {
	for _, sessions := range []int{DefaultOptions().MaxSessions, 64} { // 64: sessions are evicted
		o := DefaultOptions()
		o.MaxSessions = sessions
		statetest.RoundTrip(t, statetest.Fleet(200), 30_000, 30_000, func(*models.Inventory) statetest.Detector { return New(o) })
	}
}

func TestStateRejects(t *testing.T) {
	good, err := New(DefaultOptions()).MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if err := New(DefaultOptions()).UnmarshalState(good); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.DimBits = 10
	if err := New(o).UnmarshalState(good); err == nil {
		t.Error("accepted a document-frequency table of another dimension")
	}
	for _, bad := range []string{
		`{"df":[]}`,
		strings.Replace(string(good), `"sessions":[]`, `"sessions":[{"id":"a","minReq":1},{"id":"a","minReq":1}]`, 1),
		strings.Replace(string(good), `"agents":[]`, `"agents":[{"id":"a","p":"x","v":{}},{"id":"a","p":"x","v":{}}]`, 1),
	} {
		if !strings.Contains(bad, "df") {
			t.Fatalf("test input lost its document frequencies: %s", bad)
		}
		if err := New(DefaultOptions()).UnmarshalState([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
