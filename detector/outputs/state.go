package outputs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/tetherhq/tether/detector/internal/ewstats"
	"github.com/tetherhq/tether/detector/internal/lru"
)

// ErrState wraps every error UnmarshalState returns.
var ErrState = errors.New("outputs: invalid state")

// StateVersion is the version of the MarshalState encoding.
const StateVersion = 1

// stateJSON is the serialized Detector: the baselines from most to least
// recently used (the eviction order), each with its fields sorted by path.
type stateJSON struct {
	Version   int            `json:"v"`
	Baselines []baselineJSON `json:"baselines"`
}

type baselineJSON struct {
	Key       string        `json:"k"`
	Results   int32         `json:"r"`
	NewFields ewstats.Stats `json:"nf"`
	Fields    []fieldJSON   `json:"f"`
}

type fieldJSON struct {
	Path   string              `json:"p"`
	Length ewstats.Stats       `json:"l"`
	Seen   int32               `json:"s"`
	Freq   [numClasses]float64 `json:"c"`
	Pend   [numClasses]float64 `json:"q"`
}

// MarshalState encodes the detector's state deterministically as JSON. It
// implements detector.Stateful.
func (d *Detector) MarshalState() ([]byte, error) {
	st := stateJSON{Version: StateVersion, Baselines: make([]baselineJSON, 0, d.tools.Len())}
	for k, ts := range d.tools.All() {
		b := baselineJSON{Key: k, Results: ts.Results, NewFields: ts.NewFields, Fields: make([]fieldJSON, 0, len(ts.Fields))}
		for _, r := range ts.Fields { // sorted by path
			b.Fields = append(b.Fields, fieldJSON{Path: r.path, Length: r.f.Length, Seen: r.f.Seen, Freq: r.f.Freq, Pend: r.f.pending()})
		}
		st.Baselines = append(st.Baselines, b)
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the detector's state with one MarshalState
// encoded. It rejects malformed input, duplicates, statistics out of
// range and sizes beyond the configured caps.
func (d *Detector) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	if st.Version != StateVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrState, st.Version, StateVersion)
	}
	if d.opts.MaxScopes > 0 && len(st.Baselines) > d.opts.MaxScopes {
		return fmt.Errorf("%w: %d baselines exceed MaxScopes %d", ErrState, len(st.Baselines), d.opts.MaxScopes)
	}
	tools := lru.New[toolStats](d.tools.Max())
	for i := len(st.Baselines) - 1; i >= 0; i-- {
		bl := &st.Baselines[i]
		if bl.Key == "" || bl.Results < 0 || !validStats(bl.NewFields) || len(bl.Fields) > d.opts.MaxFields {
			return fmt.Errorf("%w: baseline %q: bad counts or more than %d fields", ErrState, bl.Key, d.opts.MaxFields)
		}
		ts, created := tools.Put(bl.Key)
		if !created {
			return fmt.Errorf("%w: duplicate baseline %q", ErrState, bl.Key)
		}
		ts.Results, ts.NewFields = bl.Results, bl.NewFields
		for j := range bl.Fields {
			f := &bl.Fields[j]
			if ts.has(f.Path) || !validStats(f.Length) || f.Seen < 0 {
				return fmt.Errorf("%w: baseline %q: duplicate or invalid field %q", ErrState, bl.Key, f.Path)
			}
			for _, x := range append(f.Freq[:], f.Pend[:]...) {
				if !(x >= 0 && x <= 1) {
					return fmt.Errorf("%w: baseline %q field %q: class frequency %v not in [0, 1]", ErrState, bl.Key, f.Path, x)
				}
			}
			fs := ts.addField(f.Path)
			fs.Length, fs.Seen, fs.Freq = f.Length, f.Seen, f.Freq
			fs.setPending(f.Pend)
		}
	}
	tools.Adopt(d.tools)
	d.tools = tools
	d.last, d.lastID, d.spans = nil, "", d.spans[:0]
	return nil
}

// validStats reports finite statistics with a non-negative variance and
// count.
func validStats(s ewstats.Stats) bool {
	return s.N >= 0 && s.Var >= 0 && !math.IsInf(s.Mean, 0) && !math.IsNaN(s.Mean) && !math.IsInf(s.Var, 0)
}

// OptionalState implements detector.OptionalState: a snapshot taken
// without this detector restores it empty.
func (d *Detector) OptionalState() {}
