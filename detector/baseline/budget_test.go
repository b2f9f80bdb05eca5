package baseline

import (
	"testing"

	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

func TestMemoryBudgetEvictsWhenExceeded(t *testing.T) {
	statetest.EvictsAtBudget(t, 200, 4000, func(inv *models.Inventory) statetest.Bounded { return New(DefaultOptions()) })
}
