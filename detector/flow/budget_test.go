package flow_test

import (
	"fmt"
	"testing"

	"github.com/tetherhq/tether/detector/flow"
	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

func TestMemoryBudgetEvictsWhenExceeded(t *testing.T) {
	statetest.EvictsAtBudget(t, 200, 4000, func(*models.Inventory) statetest.Bounded { return flow.New(flow.DefaultOptions()) })
}

func TestMaxSessionsCeiling(t *testing.T) {
	o := flow.DefaultOptions()
	o.MaxSessions = 5
	d := flow.New(o)
	a := agentSpec("a")
	for i := range 20 {
		run(t, d, a, []step{result(fmt.Sprint("s", i), "read_web", "x ID12345678")})
	}
	if d.Sessions() != 5 || d.Evictions() != 15 {
		t.Fatalf("%d sessions, %d evictions; want 5, 15", d.Sessions(), d.Evictions())
	}
	if obs, _ := d.SessionValues("s19"); obs == 0 {
		t.Fatal("the most recently active session was evicted")
	}
}
