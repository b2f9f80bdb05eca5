package eval

import (
	"errors"
	"slices"
	"testing"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
)

func stubOptions() Options {
	opts := DefaultOptions()
	opts.Detector = detector.Options{Detectors: []detector.Factory{func(*models.Inventory) detector.Detector { return stub{} }}}
	return opts
}

// withTemplates gives the attacked sessions of the fixture a template
// group, a dimension the clean sessions do not carry.
func withTemplates(ls []SessionLabel) []SessionLabel {
	tpl := map[string]string{"s1": "a", "s2": "a", "s7": "a", "s3": "b", "s8": "b"}
	for i := range ls {
		if v, ok := tpl[ls[i].SessionID]; ok {
			g := map[string]string{"template": v}
			for k, x := range ls[i].Groups {
				g[k] = x
			}
			ls[i].Groups = g
		}
	}
	return ls
}

func TestAttackOnlyGroups(t *testing.T) {
	evs, ls := load(t)
	rep, err := Run(evs, withTemplates(ls), stubOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Scores: s1=90 s2=60 s3=0 (hijacked), s4=60 s5=0 s6=30 (clean), s7=70
	// s8=0 (attacked only). Every clean session is a negative of each
	// template.
	tests := []struct {
		group     string
		pos, neg  int
		auroc     float64
		attAUROC  float64
		recallThr float64
	}{
		{"a", 2, 3, 5.5 / 6, 8.5 / 9, 2.0 / 2},
		{"b", 1, 3, 0.5 / 3, 1.0 / 6, 0},
	}
	for _, tt := range tests {
		m, ok := rep.By["template"][tt.group]
		if !ok {
			t.Fatalf("no template %s in %v", tt.group, rep.By)
		}
		h := m.Views["hijacked"]
		if h.Positives != tt.pos || h.Negatives != tt.neg || !near(float64(h.AUROC), tt.auroc) ||
			!near(float64(m.Views["attacked"].AUROC), tt.attAUROC) || !near(float64(h.RecallAtThreshold), tt.recallThr) {
			t.Errorf("template %s: %+v / attacked %+v", tt.group, h, m.Views["attacked"])
		}
	}
}

func TestHeldOutWithoutFit(t *testing.T) {
	evs, ls := load(t)
	rep, err := Run(evs, withTemplates(ls), stubOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.HeldOutFitted {
		t.Error("held_out_fitted without a Fit")
	}
	for _, key := range []string{"template", "suite"} {
		if len(rep.HeldOut[key]) != len(rep.By[key]) || len(rep.HeldOut[key]) < 2 {
			t.Fatalf("%s: held out %v, by %v", key, rep.HeldOut[key], rep.By[key])
		}
		for g, m := range rep.HeldOut[key] {
			if !near(float64(m.AUROC), float64(rep.By[key][g].AUROC)) || m.Sessions != rep.By[key][g].Sessions {
				t.Errorf("%s=%s: held out %+v differs from %+v", key, g, m, rep.By[key][g])
			}
		}
	}
}

// TestHeldOutFit plugs in a learner whose threshold depends on the training
// set and checks that each held-out group is scored with the parameters fit
// without it, and that the learner never sees the held-out sessions.
func TestHeldOutFit(t *testing.T) {
	evs, ls := load(t)
	opts := stubOptions()
	opts.HeldOutKeys = []string{"suite"}
	labelled := map[string]bool{}
	for _, l := range ls {
		labelled[l.SessionID] = true
	}
	var calls int
	opts.Fit = func(train Dataset) (func(*Options), error) {
		calls++
		var ids []string
		for _, l := range train.Labels {
			ids = append(ids, l.SessionID)
		}
		for _, ev := range train.Events {
			if labelled[ev.SessionID] && !slices.Contains(ids, ev.SessionID) {
				t.Errorf("training event of held-out session %s", ev.SessionID)
			}
		}
		// Learn: 61 when trained on suite y (held out x), 91 otherwise.
		thr := uint8(91)
		if slices.Contains(ids, "s3") {
			if slices.Contains(ids, "s1") {
				t.Errorf("training set holds both suites: %v", ids)
			}
			thr = 61
		}
		return func(o *Options) { o.Threshold = thr }, nil
	}
	rep, err := Run(evs, ls, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.HeldOutFitted || calls != 2 {
		t.Fatalf("fitted %v after %d fits", rep.HeldOutFitted, calls)
	}
	// Held out x, threshold 61: s1=90 flagged, s2=60 not; s4=60, s5=0 not.
	// Held out y, threshold 91: s3=0 missed; s6=30 not flagged.
	x, y := rep.HeldOut["suite"]["x"], rep.HeldOut["suite"]["y"]
	if !near(float64(x.RecallAtThreshold), 0.5) || !near(float64(x.FPRAtThreshold), 0) {
		t.Errorf("held out x: recall %v fpr %v", x.RecallAtThreshold, x.FPRAtThreshold)
	}
	if !near(float64(y.RecallAtThreshold), 0) || !near(float64(y.FPRAtThreshold), 0) {
		t.Errorf("held out y: recall %v fpr %v", y.RecallAtThreshold, y.FPRAtThreshold)
	}
	// The plain figures keep the documented threshold.
	if !near(float64(rep.By["suite"]["x"].RecallAtThreshold), 1) {
		t.Errorf("plain x recall %v", rep.By["suite"]["x"].RecallAtThreshold)
	}

	errFit := errors.New("cannot fit")
	opts.Fit = func(Dataset) (func(*Options), error) { return nil, errFit }
	if _, err := Run(evs, ls, opts); !errors.Is(err, errFit) {
		t.Errorf("err = %v, want the fit error", err)
	}
}
