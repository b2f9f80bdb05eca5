package eval

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
)

// ErrNoSessions is returned when no labelled session has events.
var ErrNoSessions = errors.New("no labelled session in the event stream")

// Options configures a replay.
type Options struct {
	// Detector configures the engine under test: normally
	// detector.DefaultOptions() with the inventory filled in.
	Detector detector.Options
	// Threshold is the alert severity; DefaultOptions sets
	// models.AlertThreshold and it is not meant to be tuned per dataset.
	Threshold uint8
	// MinScoreSeverity: findings below it are informational (posture,
	// model changes, "unknown" semantic scores) and are counted but do not
	// score a session. DefaultOptions sets models.SeverityLow (30), the top
	// of the info band.
	MinScoreSeverity uint8
	// Progress receives a progress line every ProgressEvery; nil is silent.
	Progress io.Writer
	// ProgressEvery is the interval between progress lines.
	ProgressEvery time.Duration
	// Fit, when set, fits parameters on labelled data (see FitFunc); the
	// held-out report then fits on all groups but one and scores the one
	// left out. Nil means nothing is fit on labels: the held-out figures
	// are the plain per-group ones.
	Fit FitFunc
	// HeldOutKeys are the group dimensions of the leave-one-group-out
	// report (DefaultOptions: template and suite).
	HeldOutKeys []string
}

// DefaultOptions returns the production detector set (no inventory) and the
// documented alert threshold.
func DefaultOptions() Options {
	return Options{
		Detector: detector.DefaultOptions(), Threshold: models.AlertThreshold, MinScoreSeverity: models.SeverityLow,
		ProgressEvery: time.Second, HeldOutKeys: []string{"template", "suite"},
	}
}

// SessionResult is the outcome of one labelled session.
type SessionResult struct {
	SessionID string            `json:"session_id"`
	AgentID   string            `json:"agent_id"`
	Label     string            `json:"label"`
	Attacked  bool              `json:"attacked"`
	Hijacked  bool              `json:"hijacked"`
	HarmStep  *int              `json:"harm_step"`
	Groups    map[string]string `json:"groups,omitempty"`
	Events    int               `json:"events"`
	// MaxSeverity is the highest severity of the session's findings (0 when
	// none): the session's score.
	MaxSeverity uint8 `json:"max_severity"`
	// FirstFlagStep is the step of the first finding at or above the
	// threshold, or nil when the session was never flagged.
	FirstFlagStep *int `json:"first_flag_step"`
	// Findings counts the session's findings.
	Findings int `json:"findings"`
	// TopFinding is "detector/kind" of the (first) highest-severity finding.
	TopFinding string `json:"top_finding,omitempty"`
	// TopExplanation explains the top finding.
	TopExplanation string `json:"top_explanation,omitempty"`
	// Kinds maps "detector/kind" to the highest severity of the session's
	// findings of that kind, informational ones included: which findings
	// make up the score, for analysing what ranks a session where it is.
	Kinds map[string]uint8 `json:"kinds,omitempty"`
}

// Flagged reports whether the session reached the threshold.
func (r *SessionResult) Flagged() bool { return r.FirstFlagStep != nil }

// ViewMetrics scores one choice of positives against the sessions without
// an attack.
type ViewMetrics struct {
	Positives         int        `json:"positives"`
	Negatives         int        `json:"negatives"`
	AUROC             Metric     `json:"auroc"`
	RecallAtFPR1      Metric     `json:"recall_at_fpr_1pct"`
	RecallAtFPR5      Metric     `json:"recall_at_fpr_5pct"`
	RecallAtThreshold Metric     `json:"recall_at_threshold"`
	FPRAtThreshold    Metric     `json:"fpr_at_threshold"`
	ROC               []ROCPoint `json:"roc,omitempty"`
}

// Metrics are the headline numbers of a set of sessions. Positives are the
// malicious (hijacked) sessions, negatives the benign sessions without an
// attack; attacked sessions that were not hijacked are neither, and are
// reported through AttackedNotHijackedFlagged.
type Metrics struct {
	Sessions            int `json:"sessions"`
	MaliciousSessions   int `json:"malicious_sessions"`
	BenignSessions      int `json:"benign_sessions"`
	AttackedSessions    int `json:"attacked_sessions"`
	AttackedNotHijacked int `json:"attacked_not_hijacked_sessions"`

	AUROC             Metric `json:"auroc"`
	RecallAtFPR1      Metric `json:"recall_at_fpr_1pct"`
	RecallAtFPR5      Metric `json:"recall_at_fpr_5pct"`
	RecallAtThreshold Metric `json:"recall_at_threshold"`
	FPRAtThreshold    Metric `json:"fpr_at_threshold"`
	// EarlyDetectionRate is the share of flagged malicious sessions with a
	// known harm step whose first flag came at or before it.
	EarlyDetectionRate   Metric `json:"early_detection_rate"`
	EarlyDetected        int    `json:"early_detected"`
	DetectedWithHarmStep int    `json:"detected_with_harm_step"`
	// AttackedNotHijackedFlagged is the share of attacked-but-not-hijacked
	// sessions flagged at the threshold.
	AttackedNotHijackedFlagged Metric `json:"attacked_not_hijacked_flagged"`

	// Views holds the metrics under both labels: "hijacked" (the headline)
	// and "attacked" (every attacked session is a positive).
	Views map[string]ViewMetrics `json:"views"`
}

// ReplayStats describes the replay itself.
type ReplayStats struct {
	Events              int     `json:"events"`
	LabelledEvents      int     `json:"labelled_events"`
	UnlabelledSessions  int     `json:"unlabelled_sessions"`
	LabelsWithoutEvents int     `json:"labels_without_events"`
	Findings            int     `json:"findings"`
	LateFindings        int     `json:"late_findings"`
	Commands            int     `json:"commands"`
	ElapsedSeconds      float64 `json:"elapsed_seconds"`
	EventsPerSecond     float64 `json:"events_per_second"`
}

// Report is the outcome of an evaluation.
type Report struct {
	// AlertThreshold is the severity at which a session counts as flagged.
	AlertThreshold uint8 `json:"alert_threshold"`
	Metrics
	// By breaks the metrics down by each group dimension of the labels
	// (e.g. by["suite"]["banking"]). A dimension that only attacked
	// sessions carry (e.g. "template") scores each group's positives
	// against every session without an attack.
	By map[string]map[string]Metrics `json:"by"`
	// HeldOut holds, per HeldOutKeys dimension and group, the metrics of
	// the group when whatever is fit (Options.Fit) was fit on the other
	// groups only: leave-one-template-out, leave-one-suite-out.
	HeldOut map[string]map[string]Metrics `json:"held_out,omitempty"`
	// HeldOutFitted says whether anything was fit; when false the held-out
	// figures equal the By figures by construction.
	HeldOutFitted bool `json:"held_out_fitted"`
	// FindingKinds counts, per "detector/kind", the sessions whose findings
	// included it, split by class (malicious, benign, attacked_not_hijacked).
	FindingKinds map[string]map[string]int `json:"finding_kinds"`
	Replay       ReplayStats               `json:"replay"`
	Results      []SessionResult           `json:"session_results"`
}

// SortEvents orders events for replay by (time, agent, step), keeping the
// input order among equals.
func SortEvents(evs []*models.Event) {
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i], evs[j]
		if c := a.Time.Compare(b.Time); c != 0 {
			return c < 0
		}
		if c := cmp.Compare(a.AgentID, b.AgentID); c != 0 {
			return c < 0
		}
		return a.Step < b.Step
	})
}

// Run replays events, in SortEvents order, through one engine built from
// opts.Detector and scores the labelled sessions. A session is scored only
// from the findings emitted while processing events up to and including its
// own last event, so nothing after the session can raise its score. events
// is sorted in place.
func Run(events []*models.Event, labels []SessionLabel, opts Options) (*Report, error) {
	start := time.Now()
	SortEvents(events)
	results, kinds, stats := replay(events, labels, opts)
	if len(results) == 0 {
		return nil, fmt.Errorf("%w (%d events, %d labels)", ErrNoSessions, len(events), len(labels))
	}
	rep := &Report{
		AlertThreshold: opts.Threshold,
		Metrics:        computeMetrics(results, opts.Threshold, true),
		By:             map[string]map[string]Metrics{},
		FindingKinds:   map[string]map[string]int{},
		Results:        results,
	}
	for _, key := range groupKeys(labels) {
		rep.By[key] = map[string]Metrics{}
		for v, rs := range groupParts(results, key) {
			rep.By[key][v] = computeMetrics(rs, opts.Threshold, false)
		}
	}
	if err := rep.heldOut(events, labels, opts); err != nil {
		return nil, err
	}
	classOf := map[string]string{}
	for _, r := range results {
		classOf[r.SessionID] = class(&r)
	}
	for name, sessions := range kinds {
		m := map[string]int{}
		for s := range sessions {
			m[classOf[s]]++
		}
		rep.FindingKinds[name] = m
	}
	stats.ElapsedSeconds = time.Since(start).Seconds()
	if stats.ElapsedSeconds > 0 {
		stats.EventsPerSecond = float64(stats.Events) / stats.ElapsedSeconds
	}
	rep.Replay = stats
	return rep, nil
}

// groupParts splits results by their value of a group dimension. When no
// session without an attack carries the dimension (it describes attacks,
// e.g. the injection template), every such session joins each part as a
// negative.
func groupParts(results []SessionResult, key string) map[string][]SessionResult {
	parts := map[string][]SessionResult{}
	var clean []SessionResult
	attackOnly := true
	for _, r := range results {
		if v, ok := r.Groups[key]; ok {
			parts[v] = append(parts[v], r)
			if !r.Attacked {
				attackOnly = false
			}
		} else if !r.Attacked {
			clean = append(clean, r)
		}
	}
	if attackOnly && len(parts) > 0 {
		for v := range parts {
			parts[v] = append(parts[v], clean...)
		}
	}
	return parts
}

// replay runs the engine over events (sorted) and returns the results of
// the labelled sessions that have events, the sessions per finding kind,
// and the replay statistics (without timing).
func replay(events []*models.Event, labels []SessionLabel, opts Options) ([]SessionResult, map[string]map[string]bool, ReplayStats) {

	byID := make(map[string]int, len(labels))
	results := make([]SessionResult, len(labels))
	for i := range labels {
		l := &labels[i]
		byID[l.SessionID] = i
		results[i] = SessionResult{
			SessionID: l.SessionID, AgentID: l.AgentID, Label: l.Label,
			Attacked: l.IsAttacked(), Hijacked: l.IsHijacked(), HarmStep: l.HarmStep, Groups: l.Groups,
		}
	}
	last := make(map[string]int) // session -> index of its last event
	unlabelled := map[string]bool{}
	stats := ReplayStats{Events: len(events)}
	for i, ev := range events {
		last[ev.SessionID] = i
		if k, ok := byID[ev.SessionID]; ok {
			results[k].Events++
			if results[k].AgentID == "" {
				results[k].AgentID = ev.AgentID
			}
			stats.LabelledEvents++
		} else {
			unlabelled[ev.SessionID] = true
		}
	}
	stats.UnlabelledSessions = len(unlabelled)

	eng := detector.New(opts.Detector)
	var out detector.Output
	kinds := map[string]map[string]bool{} // kind -> sessions
	lastTick := time.Now()
	for i, ev := range events {
		out.Reset()
		eng.Process(ev, &out)
		stats.Findings += len(out.Findings)
		stats.Commands += len(out.Commands)
		for j := range out.Findings {
			f := &out.Findings[j]
			k, ok := byID[f.SessionID]
			if !ok {
				continue
			}
			if li, seen := last[f.SessionID]; !seen || li < i {
				stats.LateFindings++ // after the session ended: not scored
				continue
			}
			r := &results[k]
			r.Findings++
			name := f.Detector + "/" + f.Kind
			if kinds[name] == nil {
				kinds[name] = map[string]bool{}
			}
			kinds[name][f.SessionID] = true
			if r.Kinds == nil {
				r.Kinds = map[string]uint8{}
			}
			r.Kinds[name] = max(r.Kinds[name], f.Severity)
			if f.Severity < opts.MinScoreSeverity {
				continue // informational: counted, not scored
			}
			if f.Severity > r.MaxSeverity || r.TopFinding == "" {
				r.TopFinding, r.TopExplanation = name, f.Explanation
				r.MaxSeverity = max(r.MaxSeverity, f.Severity)
			}
			if f.Severity >= opts.Threshold && r.FirstFlagStep == nil {
				step := f.Step
				r.FirstFlagStep = &step
			}
		}
		if opts.Progress != nil && (i&1023 == 0 || i == len(events)-1) && (time.Since(lastTick) >= opts.ProgressEvery || i == len(events)-1) {
			lastTick = time.Now()
			fmt.Fprintf(opts.Progress, "\rreplay: %d/%d events (%3.0f%%), %d findings", i+1, len(events), 100*float64(i+1)/float64(len(events)), stats.Findings)
			if i == len(events)-1 {
				fmt.Fprintln(opts.Progress)
			}
		}
	}

	// Keep only labelled sessions that have events.
	var kept []SessionResult
	for _, r := range results {
		if r.Events == 0 {
			stats.LabelsWithoutEvents++
			continue
		}
		kept = append(kept, r)
	}
	return kept, kinds, stats
}

// Class names of a session in FindingKinds.
const (
	ClassMalicious           = "malicious"
	ClassBenign              = "benign"
	ClassAttackedNotHijacked = "attacked_not_hijacked"
)

func class(r *SessionResult) string {
	switch {
	case r.Label == LabelMalicious:
		return ClassMalicious
	case r.Attacked:
		return ClassAttackedNotHijacked
	}
	return ClassBenign
}

// computeMetrics scores a set of session results.
func computeMetrics(rs []SessionResult, threshold uint8, withROC bool) Metrics {
	m := Metrics{Sessions: len(rs), Views: map[string]ViewMetrics{}}
	var hij, att []Scored
	anhFlagged := 0
	for i := range rs {
		r := &rs[i]
		s := float64(r.MaxSeverity)
		if r.Attacked {
			m.AttackedSessions++
			att = append(att, Scored{Score: s, Positive: true})
		}
		switch class(r) {
		case ClassMalicious:
			m.MaliciousSessions++
			hij = append(hij, Scored{Score: s, Positive: true})
			if r.Flagged() && r.HarmStep != nil {
				m.DetectedWithHarmStep++
				if *r.FirstFlagStep <= *r.HarmStep {
					m.EarlyDetected++
				}
			}
		case ClassAttackedNotHijacked:
			m.AttackedNotHijacked++
			if r.Flagged() {
				anhFlagged++
			}
		default:
			m.BenignSessions++
			hij = append(hij, Scored{Score: s})
			att = append(att, Scored{Score: s})
		}
	}
	m.Views["hijacked"] = view(hij, threshold, withROC)
	m.Views["attacked"] = view(att, threshold, withROC)
	h := m.Views["hijacked"]
	m.AUROC, m.RecallAtFPR1, m.RecallAtFPR5 = h.AUROC, h.RecallAtFPR1, h.RecallAtFPR5
	m.RecallAtThreshold, m.FPRAtThreshold = h.RecallAtThreshold, h.FPRAtThreshold
	m.EarlyDetectionRate = Metric(ratio(m.EarlyDetected, m.DetectedWithHarmStep))
	m.AttackedNotHijackedFlagged = Metric(ratio(anhFlagged, m.AttackedNotHijacked))
	return m
}

func view(xs []Scored, threshold uint8, withROC bool) ViewMetrics {
	pos, neg := counts(xs)
	v := ViewMetrics{
		Positives: pos, Negatives: neg,
		AUROC:        Metric(AUROC(xs)),
		RecallAtFPR1: Metric(RecallAtFPR(xs, 0.01)),
		RecallAtFPR5: Metric(RecallAtFPR(xs, 0.05)),
	}
	rec, fpr := RatesAt(xs, float64(threshold))
	v.RecallAtThreshold, v.FPRAtThreshold = Metric(rec), Metric(fpr)
	if withROC && pos > 0 && neg > 0 {
		v.ROC = ROC(xs)
	}
	return v
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
