package eval

import (
	"fmt"

	"github.com/tetherhq/tether/models"
)

// Dataset is a labelled stream: the events (read-only) and the labels of
// its sessions.
type Dataset struct {
	Events []*models.Event
	Labels []SessionLabel
}

// FitFunc fits parameters of the detection on a training set (e.g. a
// threshold or a weight learned from labels) and returns how to apply them
// to the replay options of the held-out evaluation. The detectors' online
// per-agent baselines are not "fit" in this sense: they learn from the
// stream as it replays, labels unseen.
type FitFunc func(train Dataset) (apply func(*Options), err error)

// heldOut fills the leave-one-group-out report: for every dimension of
// opts.HeldOutKeys with two or more groups, and every group g, the
// parameters are fit on the sessions outside g, the whole stream is
// replayed with them (so that the online baselines see the same history as
// the plain run) and the sessions of g are scored as in By. For a
// dimension that only attacked sessions carry, the sessions without an
// attack are in every training set and every test set: a learner fitted
// on clean sessions is judged properly only by a dimension they carry
// (e.g. suite). With no Fit, nothing is fit and the figures are By's.
func (rep *Report) heldOut(events []*models.Event, labels []SessionLabel, opts Options) error {
	rep.HeldOutFitted = opts.Fit != nil
	for _, key := range opts.HeldOutKeys {
		groups, ok := rep.By[key]
		if !ok || len(groups) < 2 {
			continue
		}
		if rep.HeldOut == nil {
			rep.HeldOut = map[string]map[string]Metrics{}
		}
		rep.HeldOut[key] = map[string]Metrics{}
		for _, g := range sortedKeys(groups) {
			if opts.Fit == nil {
				rep.HeldOut[key][g] = groups[g]
				continue
			}
			m, err := fitAndScore(events, labels, opts, key, g)
			if err != nil {
				return err
			}
			rep.HeldOut[key][g] = m
		}
	}
	return nil
}

// fitAndScore fits on the sessions outside group g of key and scores g.
func fitAndScore(events []*models.Event, labels []SessionLabel, opts Options, key, g string) (Metrics, error) {
	in := map[string]bool{}
	var train Dataset
	for _, l := range labels {
		if v, ok := l.Groups[key]; ok && v == g {
			in[l.SessionID] = true
			continue
		}
		train.Labels = append(train.Labels, l)
	}
	for _, ev := range events {
		if !in[ev.SessionID] {
			train.Events = append(train.Events, ev)
		}
	}
	apply, err := opts.Fit(train)
	if err != nil {
		return Metrics{}, fmt.Errorf("eval: fit without %s=%s: %w", key, g, err)
	}
	o := opts
	o.Fit, o.HeldOutKeys, o.Progress = nil, nil, nil
	if apply != nil {
		apply(&o)
	}
	results, _, _ := replay(events, labels, o)
	return computeMetrics(groupParts(results, key)[g], o.Threshold, false), nil
}
