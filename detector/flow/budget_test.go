package flow_test

import (
	"fmt"
	"testing"

	"github.com/tetherhq/tether/detector/flow"
)

func TestMemoryBudgetCapsSessions(t *testing.T) {
	d := flow.New(flow.DefaultOptions())
	a := agentSpec("a")
	for i := range 20 {
		run(t, d, a, []step{result(fmt.Sprint("s", i), "read_web", "x ID12345678")})
	}
	d.SetMemoryBudget(5 * 2 << 10) // 5 sessions at the 2 KiB estimate
	if d.Sessions() != 5 || d.Evictions() != 15 {
		t.Fatalf("%d sessions, %d evictions after the budget; want 5, 15", d.Sessions(), d.Evictions())
	}
	if obs, _ := d.SessionValues("s19"); obs == 0 {
		t.Fatal("the most recently active session was evicted")
	}
	for i := 20; i < 30; i++ {
		run(t, d, a, []step{result(fmt.Sprint("s", i), "read_web", "x ID12345678")})
	}
	if d.Sessions() != 5 || d.Evictions() != 25 {
		t.Fatalf("%d sessions, %d evictions under the budget; want 5, 25", d.Sessions(), d.Evictions())
	}
}
