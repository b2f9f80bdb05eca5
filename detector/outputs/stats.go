package outputs

import (
	"math"

	"github.com/tetherhq/tether/detector/internal/ewstats"
	"github.com/tetherhq/tether/detector/internal/lru"
)

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
	// pathBytes is the heap the paths of Fields take (memory accounting).
	pathBytes int
}

// fieldStats is the baseline of one field of a tool's results.
type fieldStats struct {
	// Length: the weighted mean and variance of log(1 + bytes) of the
	// field's values; Length.N counts the values.
	Length ewstats.Stats
	// Seen counts the results that returned the field.
	Seen int32
	// Freq is the weighted frequency, over the results that returned the
	// field, of results in which some value of the field holds each
	// class: a class that long file contents hold now and then is part
	// of their shape even if few of their lines hold it.
	Freq [numClasses]float64
	// Pending is the weighted frequency of results in which the field
	// held each class out of shape. Such classes are not learned into
	// Freq (content planted into some results must not become the
	// shape); a class that comes to be in most results (Pending at
	// least Options.AdoptFraction) is a change of the tool's output and
	// is adopted.
	Pending [numClasses]float64

	// touched and res are scratch of one learn call, not state: res is
	// what this result's values of the field held, valid while touched.
	touched bool
	res     fieldResult
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
	ts.pathBytes += lru.String(path)
	return f
}

// addClasses folds in the classes the field's values held in one result,
// novel of them out of shape, with smoothing factor alpha; the first
// results weigh equally, as in ewstats. Out-of-shape classes count as
// absent in Freq and present in Pending, and are adopted into Freq when
// Pending reaches adopt.
func (f *fieldStats) addClasses(cs, novel classSet, alpha, adopt float64) {
	if f.Seen < math.MaxInt32 {
		f.Seen++
	}
	w := max(alpha, 1/float64(f.Seen))
	for c := Class(0); c < numClasses; c++ {
		f.Freq[c] += w * (b2f(cs.has(c) && !novel.has(c)) - f.Freq[c])
		f.Pending[c] += w * (b2f(novel.has(c)) - f.Pending[c])
		if f.Pending[c] >= adopt {
			f.Freq[c], f.Pending[c] = max(f.Freq[c], f.Pending[c]), 0
		}
	}
}
