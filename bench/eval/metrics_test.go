package eval

import (
	"encoding/json"
	"math"
	"testing"
)

func scored(pos, neg []float64) []Scored {
	var xs []Scored
	for _, s := range pos {
		xs = append(xs, Scored{Score: s, Positive: true})
	}
	for _, s := range neg {
		xs = append(xs, Scored{Score: s})
	}
	return xs
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-9
}

func TestAUROC(t *testing.T) {
	tests := []struct {
		name     string
		pos, neg []float64
		want     float64
	}{
		{"perfect", []float64{3, 4}, []float64{1, 2}, 1},
		{"inverted", []float64{1, 2}, []float64{3, 4}, 0},
		{"all tied", []float64{5, 5}, []float64{5}, 0.5},
		// pairs won: 0.8 beats 3, 0.6 beats 2, 0.4 beats 1 -> 6/9
		{"interleaved", []float64{0.8, 0.6, 0.4}, []float64{0.7, 0.5, 0.3}, 6.0 / 9},
		// 90 beats 3; 60 beats 0 and 30, ties 60 (2.5); 0 ties 0 (0.5) -> 6/9
		{"ties across classes", []float64{90, 60, 0}, []float64{60, 0, 30}, 6.0 / 9},
		// every session unflagged: pure tie
		{"all zero", []float64{0, 0, 0}, []float64{0, 0}, 0.5},
		{"no negatives", []float64{1}, nil, math.NaN()},
		{"no positives", nil, []float64{1}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AUROC(scored(tt.pos, tt.neg)); !near(got, tt.want) {
				t.Errorf("AUROC = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecallAtFPR(t *testing.T) {
	// Thresholds: >=10 flags 2/3 positives and 1/4 negatives; >=5 flags
	// 3/3 and 1/4; >=1 flags everything.
	tied := scored([]float64{10, 10, 5}, []float64{10, 1, 1, 1})
	sep := scored([]float64{9, 8, 2}, []float64{7, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	tests := []struct {
		name   string
		xs     []Scored
		maxFPR float64
		want   float64
	}{
		{"tie with a negative blocks low FPR", tied, 0.01, 0},
		{"tie admitted at its FPR", tied, 0.25, 1},
		{"between points", tied, 0.5, 1},
		{"separable top", sep, 0.05, 2.0 / 3},
		{"one false positive admits the positive below it", sep, 0.1, 1},
		{"all", sep, 1, 1},
		{"undefined", scored([]float64{1}, nil), 0.05, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RecallAtFPR(tt.xs, tt.maxFPR); !near(got, tt.want) {
				t.Errorf("RecallAtFPR(%v) = %v, want %v", tt.maxFPR, got, tt.want)
			}
		})
	}
}

func TestROCAndRates(t *testing.T) {
	xs := scored([]float64{10, 10, 5}, []float64{10, 1, 1, 1})
	want := []ROCPoint{
		{Threshold: Metric(math.Inf(1)), FPR: 0, TPR: 0},
		{Threshold: 10, FPR: 0.25, TPR: 2.0 / 3},
		{Threshold: 5, FPR: 0.25, TPR: 1},
		{Threshold: 1, FPR: 1, TPR: 1},
	}
	got := ROC(xs)
	if len(got) != len(want) {
		t.Fatalf("ROC = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Threshold != want[i].Threshold || !near(got[i].FPR, want[i].FPR) || !near(got[i].TPR, want[i].TPR) {
			t.Errorf("point %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	tests := []struct {
		threshold   float64
		recall, fpr float64
	}{
		{11, 0, 0}, {10, 2.0 / 3, 0.25}, {6, 2.0 / 3, 0.25}, {5, 1, 0.25}, {0, 1, 1},
	}
	for _, tt := range tests {
		r, f := RatesAt(xs, tt.threshold)
		if !near(r, tt.recall) || !near(f, tt.fpr) {
			t.Errorf("RatesAt(%v) = %v, %v; want %v, %v", tt.threshold, r, f, tt.recall, tt.fpr)
		}
	}
}

func TestMetricJSON(t *testing.T) {
	tests := []struct {
		m    Metric
		want string
	}{
		{Metric(0.5), "0.5"}, {Metric(math.NaN()), "null"}, {Metric(math.Inf(1)), "null"}, {Metric(2.0 / 3), "0.666667"},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.m)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", float64(tt.m), b, err, tt.want)
		}
		var back Metric
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("Unmarshal(%s): %v", b, err)
		}
	}
}
