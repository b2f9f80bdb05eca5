package eval

import (
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Scored is one session's score (higher = more suspicious) and whether it
// is a positive.
type Scored struct {
	Score    float64
	Positive bool
}

// ROCPoint is one operating point: flag every session with score >= Threshold.
type ROCPoint struct {
	Threshold Metric  `json:"threshold"`
	FPR       float64 `json:"fpr"`
	TPR       float64 `json:"tpr"`
}

// counts returns the number of positives and negatives.
func counts(xs []Scored) (pos, neg int) {
	for _, x := range xs {
		if x.Positive {
			pos++
		} else {
			neg++
		}
	}
	return pos, neg
}

// AUROC returns the area under the ROC curve: the probability that a random
// positive scores above a random negative, counting ties as one half (the
// Mann–Whitney U statistic divided by pos*neg). It is NaN when there are no
// positives or no negatives.
func AUROC(xs []Scored) float64 {
	pos, neg := counts(xs)
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	s := append([]Scored(nil), xs...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Score < s[j].Score })
	// Sum of the (tie-averaged, 1-based) ranks of the positives.
	var rankSum float64
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j].Score == s[i].Score {
			j++
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1 … j
		for k := i; k < j; k++ {
			if s[k].Positive {
				rankSum += avg
			}
		}
		i = j
	}
	u := rankSum - float64(pos)*float64(pos+1)/2
	return u / (float64(pos) * float64(neg))
}

// ROC returns the ROC curve's operating points, one per distinct score from
// the highest to the lowest, preceded by the (0,0) point of a threshold above
// every score. Tied scores move both rates at once (a diagonal segment).
func ROC(xs []Scored) []ROCPoint {
	pos, neg := counts(xs)
	s := append([]Scored(nil), xs...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Score > s[j].Score })
	pts := []ROCPoint{{Threshold: Metric(math.Inf(1))}}
	tp, fp := 0, 0
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j].Score == s[i].Score {
			if s[j].Positive {
				tp++
			} else {
				fp++
			}
			j++
		}
		pts = append(pts, ROCPoint{Threshold: Metric(s[i].Score), FPR: ratio(fp, neg), TPR: ratio(tp, pos)})
		i = j
	}
	return pts
}

// RecallAtFPR returns the highest recall (TPR) of any threshold whose false
// positive rate is at most maxFPR. Thresholds are the distinct scores, so
// tied sessions are flagged together (no interpolation between points); a
// threshold above every score gives recall 0. NaN when there are no
// positives or no negatives.
func RecallAtFPR(xs []Scored, maxFPR float64) float64 {
	pos, neg := counts(xs)
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	best := 0.0
	for _, p := range ROC(xs) {
		if p.FPR <= maxFPR+1e-12 && p.TPR > best {
			best = p.TPR
		}
	}
	return best
}

// RatesAt returns the recall and false positive rate of flagging every
// session with score >= threshold (NaN where undefined).
func RatesAt(xs []Scored, threshold float64) (recall, fpr float64) {
	pos, neg := counts(xs)
	tp, fp := 0, 0
	for _, x := range xs {
		if x.Score >= threshold {
			if x.Positive {
				tp++
			} else {
				fp++
			}
		}
	}
	return ratio(tp, pos), ratio(fp, neg)
}

// ratio is a/b, or NaN when b is 0.
func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// Metric is a rate or score that may be undefined (NaN, e.g. a recall with
// no positives); it encodes as JSON null when not finite.
type Metric float64

// MarshalJSON implements json.Marshaler.
func (m Metric) MarshalJSON() ([]byte, error) {
	f := float64(m)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler (null decodes to NaN).
func (m *Metric) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = Metric(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("metric %q: %w", b, err)
	}
	*m = Metric(f)
	return nil
}

// String formats m with three decimals, or "n/a".
func (m Metric) String() string {
	f := float64(m)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}
