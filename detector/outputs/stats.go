package outputs

import (
	"math"
	"slices"
	"strings"

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
	// Fields holds the baseline of each field path, sorted by path (a
	// slice searched by halving: most baselines have a few fields, for
	// which a map would take 256 bytes more).
	Fields []fieldRef
	// pathBytes is the heap the paths of Fields take (memory accounting).
	pathBytes int
}

// fieldRef is one field of a baseline: its path and statistics.
type fieldRef struct {
	path string
	f    *fieldStats
}

// fieldStats is the baseline of one field of a tool's results.
type fieldStats struct {
	// Length: the weighted mean and variance of log(1 + bytes) of the
	// field's values; Length.N counts the values.
	Length ewstats.Stats
	// Seen counts the results that returned the field.
	Seen int32
	// mark is scratch of one learn call, not state (it fills Seen's
	// padding): 1 + the field's index in Detector.touched, 0 when the
	// call has not touched the field.
	mark int32
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
	// is adopted. Nil while every frequency is zero (the field has never
	// held a class out of shape, as most have not): 80 bytes less.
	Pending *[numClasses]float64
}

// pending returns f's Pending frequencies (zero when nil).
func (f *fieldStats) pending() [numClasses]float64 {
	if f.Pending == nil {
		return [numClasses]float64{}
	}
	return *f.Pending
}

// setPending sets f's Pending frequencies, keeping none while all are zero.
func (f *fieldStats) setPending(p [numClasses]float64) {
	switch {
	case f.Pending != nil:
		*f.Pending = p
	case p != [numClasses]float64{}:
		f.Pending = new([numClasses]float64) // (not &p: p would escape on every call)
		*f.Pending = p
	}
}

func (ts *toolStats) find(path string) (int, bool) {
	return slices.BinarySearchFunc(ts.Fields, path, func(r fieldRef, p string) int { return strings.Compare(r.path, p) })
}

func (ts *toolStats) field(path string) *fieldStats {
	if i, ok := ts.find(path); ok {
		return ts.Fields[i].f
	}
	return nil
}

func (ts *toolStats) has(path string) bool {
	_, ok := ts.find(path)
	return ok
}

// addField adds a field new to ts (path must be absent). The slice grows
// by one: fields are added rarely, and exact capacity keeps a baseline
// with few fields small.
func (ts *toolStats) addField(path string) *fieldStats {
	i, _ := ts.find(path)
	f := &fieldStats{}
	fields := make([]fieldRef, len(ts.Fields)+1)
	copy(fields, ts.Fields[:i])
	fields[i] = fieldRef{path: path, f: f}
	copy(fields[i+1:], ts.Fields[i:])
	ts.Fields = fields
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
	var zero [numClasses]float64
	pend := f.Pending
	if pend == nil {
		pend = &zero // allocated below if a class comes to be pending
	}
	for c := Class(0); c < numClasses; c++ {
		f.Freq[c] += w * (b2f(cs.has(c) && !novel.has(c)) - f.Freq[c])
		pend[c] += w * (b2f(novel.has(c)) - pend[c])
		if pend[c] >= adopt {
			f.Freq[c], pend[c] = max(f.Freq[c], pend[c]), 0
		}
	}
	if f.Pending == nil {
		f.setPending(zero)
	}
}
