package ewstats

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/stat"
)

func TestStatsMatchesGonum(t *testing.T) {
	xs := []float64{3, 7, 1, 9, 4, 4, 12, 0, 5, 6, 8, 2, 3, 11, 7, 5, 5, 9, 1, 4}
	tests := []struct {
		name  string
		alpha float64
	}{
		{"equal weights (alpha below 1/n)", 0.01},
		{"exponential weights", 0.2},
		{"heavy smoothing", 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Stats
			for _, x := range xs {
				s.Add(x, tt.alpha)
			}
			// Effective weight of x_i: a_i · Π_{j>i} (1-a_j), a_j = max(alpha, 1/j).
			w := make([]float64, len(xs))
			for i := range xs {
				a := func(j int) float64 { return max(tt.alpha, 1/float64(j+1)) }
				w[i] = a(i)
				for j := i + 1; j < len(xs); j++ {
					w[i] *= 1 - a(j)
				}
			}
			mean, variance := stat.PopMeanVariance(xs, w)
			if math.Abs(s.Mean-mean) > 1e-9 || math.Abs(s.Var-variance) > 1e-9 {
				t.Errorf("Stats = %.6f ± var %.6f, gonum weighted = %.6f ± var %.6f", s.Mean, s.Var, mean, variance)
			}
			if sd := s.StdDev(); math.Abs(sd*sd-s.Var) > 1e-9 {
				t.Errorf("StdDev() = %v, want sqrt(%v)", sd, s.Var)
			}
		})
	}
}
