package baseline

import "github.com/tetherhq/tether/detector/internal/ewstats"

// EWStats is an exponentially weighted running mean and (population)
// variance; see ewstats.Stats. It is an alias, so baseline's state encoding
// is unchanged.
type EWStats = ewstats.Stats
