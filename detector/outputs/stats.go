package outputs

import "github.com/tetherhq/tether/detector/internal/ewstats"

// toolStats is the baseline of one tool in one scope (an agent or a peer
// group).
type toolStats struct {
	// Results counts the results learned.
	Results int32
	// NewFields is the weighted rate of results that brought a field new
	// to the tool.
	NewFields ewstats.Stats
	// Fields holds the baseline of each field path.
	Fields map[string]*fieldStats
}

// fieldStats is the baseline of one field of a tool's results.
type fieldStats struct {
	// Length: the weighted mean and variance of log(1 + bytes) of the
	// field's values; Length.N counts the values.
	Length ewstats.Stats
	// Freq is the weighted frequency of each value class among the
	// field's values.
	Freq [numClasses]float64
}

func (ts *toolStats) field(path string) *fieldStats {
	return ts.Fields[path]
}

func (ts *toolStats) has(path string) bool {
	_, ok := ts.Fields[path]
	return ok
}

func (ts *toolStats) addField(path string) *fieldStats {
	if ts.Fields == nil {
		ts.Fields = make(map[string]*fieldStats)
	}
	f := &fieldStats{}
	ts.Fields[path] = f
	return f
}

// add folds one value (its log length and classes) in with smoothing
// factor alpha; the first values weigh equally, as in ewstats.
func (f *fieldStats) add(logLen float64, cs classSet, alpha float64) {
	f.Length.Add(logLen, alpha)
	w := max(alpha, 1/float64(f.Length.N))
	for c := Class(0); c < numClasses; c++ {
		f.Freq[c] += w * (b2f(cs.has(c)) - f.Freq[c])
	}
}
