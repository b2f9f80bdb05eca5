// Package ewstats holds an exponentially weighted running mean and
// variance shared by the detectors that keep per-agent statistics
// (baseline's event rates, profile's session features).
package ewstats

import "math"

// Stats is an exponentially weighted running mean and (population)
// variance, updated in O(1) time and 24 bytes (West's incremental weighted
// algorithm). Until 1/N falls below the smoothing factor it weighs every
// observation equally, so the first few observations give the plain mean
// and variance instead of a zero-biased estimate.
//
// Its fields are exported and untagged on purpose: detectors encode it in
// their state as {"Mean":…,"Var":…,"N":…}, and those bytes must not change.
type Stats struct {
	// Mean is the weighted mean of the observations.
	Mean float64
	// Var is the weighted population variance of the observations.
	Var float64
	// N counts the observations added (saturating at math.MaxInt32).
	N int32
}

// Add folds x into the statistics with smoothing factor alpha in (0, 1]:
// the weight of an observation decays by (1-alpha) for each later one.
func (s *Stats) Add(x, alpha float64) {
	if s.N < math.MaxInt32 {
		s.N++
	}
	a := alpha
	if inv := 1 / float64(s.N); inv > a {
		a = inv
	}
	d := x - s.Mean
	inc := a * d
	s.Mean += inc
	s.Var = (1 - a) * (s.Var + d*inc)
}

// StdDev returns the square root of Var.
func (s *Stats) StdDev() float64 { return math.Sqrt(s.Var) }
