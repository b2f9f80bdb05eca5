// Package session compounds the findings of one agent session: several
// small deviations that are each below the alert threshold — a first use of
// a declared sink, a burst, an act under a lapsed credential — are together
// stronger evidence than any one of them, so the Engine feeds every finding
// to a Tracker and emits a compound_deviation finding when the session's
// combined score crosses the alert threshold.
//
// Scoring avoids double counting: per session only the strongest finding of
// each (detector, kind) is kept, so the same deviation repeated (three first
// uses of declared tools, a rate spike escalating) counts once. When at
// least MinKinds distinct kinds are present, the combined score is the
// noisy-OR of the per-kind maxima,
//
//	score = 100 · (1 − Π (1 − s_i/100)),
//
// capped at MaxSeverity: each kind is treated as an independent chance
// that the session is anomalous. A compound finding is emitted when the
// score reaches Threshold and exceeds every severity already seen in the
// session (including earlier compound findings), so a session escalates
// only when new evidence arrives.
//
// Memory is bounded: the sessions' bytes are accounted to the memory
// budget (SetMeter; least recently active evicted first when it is
// exceeded, counted), MaxSessions is an optional ceiling, each session
// keeps at most MaxKinds kinds; a session is forgotten at its session_end.
package session

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on compound findings.
const Name = "session"

// KindCompound is the kind of the compound finding.
const KindCompound = "compound_deviation"

// Options configures a Tracker. MinKinds = 0 disables compounding.
type Options struct {
	// MinKinds is how many distinct (detector, kind) pairs a session needs
	// before a combined score is computed.
	MinKinds int
	// Threshold is the combined score at or above which a compound finding
	// is emitted.
	Threshold uint8
	// MaxSeverity caps the combined score, so sub-threshold evidence alone
	// cannot reach the strongest containment actions.
	MaxSeverity uint8
	// MaxSessions bounds the sessions tracked; when full the least
	// recently active session is evicted (its compounding restarts).
	MaxSessions int
	// MaxKinds bounds the kinds kept per session; when full, a new kind
	// replaces the weakest kept if it is stronger.
	MaxKinds int
	// ExcludeDetectors names detectors whose findings are not compounded
	// (ignored by Fold): posture findings, for example, describe what an
	// agent could do, not evidence of what a session did.
	ExcludeDetectors []string
	// MinSeverity: findings below it are not compounded (informational
	// findings describe, they are not deviations).
	MinSeverity uint8
	// ExcludeKinds names single finding kinds, as "detector/kind", that are
	// not compounded: evidence for analysts (an attempted injection) that is
	// not a deviation of the session.
	ExcludeKinds []string
}

// DefaultOptions compounds from two distinct kinds, alerts at
// models.AlertThreshold, caps at models.SeverityCritical, and tracks up to
// sessions of up to 16 kinds, as many as the memory budget holds.
func DefaultOptions() Options {
	return Options{
		MinKinds:    2,
		Threshold:   models.AlertThreshold,
		MaxSeverity: models.SeverityCritical,
		MaxSessions: 0,
		MaxKinds:    16,
	}
}

// contribution is the strongest finding of one (detector, kind) in a session.
type contribution struct {
	detector, kind string
	severity       uint8
	findingID      string
	evidence       []string
}

// state is one session's compounding state.
type state struct {
	kinds []contribution
	// max is the highest severity of any finding seen in the session,
	// compound findings included.
	max uint8
}

// Tracker keeps per-session compounding state. Not safe for concurrent use,
// except Evictions.
type Tracker struct {
	opts      Options
	sessions  *lru.LRU[state]
	evictions *atomic.Uint64
}

// New returns a Tracker, or nil when opts.MinKinds is 0 (disabled); a nil
// Tracker's methods do nothing. Other zero fields fall back to defaults.
func New(opts Options) *Tracker {
	if opts.MinKinds <= 0 {
		return nil
	}
	def := DefaultOptions()
	if opts.Threshold == 0 {
		opts.Threshold = def.Threshold
	}
	if opts.MaxSeverity == 0 {
		opts.MaxSeverity = def.MaxSeverity
	}
	if opts.MaxKinds < opts.MinKinds {
		opts.MaxKinds = max(def.MaxKinds, opts.MinKinds)
	}
	t := &Tracker{opts: opts, evictions: new(atomic.Uint64)}
	t.sessions = t.table(opts.MaxSessions)
	return t
}

func (t *Tracker) table(n int) *lru.LRU[state] {
	l := lru.New[state](n)
	l.CountInto(t.evictions)
	return l
}

// SetMeter accounts the tracked sessions' bytes to m (the memory budget,
// which evicts the least recently active when exceeded). A nil Tracker
// ignores it.
func (t *Tracker) SetMeter(m *lru.Meter) {
	if t != nil {
		t.sessions.Metered(m, Name+"/sessions", sessionBytes)
	}
}

// sessionBytes is the heap one session's state holds beyond its node: its
// id, its contributions with their finding ids and evidence ids.
func sessionBytes(id string, s *state) int {
	n := lru.String(id) + lru.Slice(s.kinds)
	for i := range s.kinds {
		n += lru.String(s.kinds[i].findingID) + lru.Slice(s.kinds[i].evidence)
		for _, e := range s.kinds[i].evidence {
			n += lru.String(e)
		}
	}
	return n
}

// Evictions returns the sessions evicted so far (0 for a nil Tracker).
// Safe for concurrent use.
func (t *Tracker) Evictions() uint64 {
	if t == nil {
		return 0
	}
	return t.evictions.Load()
}

// Tracked returns the number of sessions tracked.
func (t *Tracker) Tracked() int {
	if t == nil {
		return 0
	}
	return t.sessions.Len()
}

// Fold adds finding f (with its ID, detector and session filled) to its
// session and reports whether the session's per-kind maxima changed.
// Compound findings (detector Name) only raise the session's maximum;
// findings below Options.MinSeverity and findings of
// Options.ExcludeDetectors and ExcludeKinds are ignored.
func (t *Tracker) Fold(f *models.Finding) bool {
	if t == nil || f.SessionID == "" || f.Severity < t.opts.MinSeverity ||
		slices.Contains(t.opts.ExcludeDetectors, f.Detector) || t.excludedKind(f) {
		return false
	}
	st, _ := t.sessions.Put(f.SessionID)
	st.max = max(st.max, f.Severity)
	if f.Detector == Name {
		return false
	}
	return st.add(f, t.opts.MaxKinds)
}

// excludedKind reports whether f's "detector/kind" is in ExcludeKinds.
func (t *Tracker) excludedKind(f *models.Finding) bool {
	for _, k := range t.opts.ExcludeKinds {
		if len(k) == len(f.Detector)+1+len(f.Kind) && k[len(f.Detector)] == '/' &&
			k[:len(f.Detector)] == f.Detector && k[len(f.Detector)+1:] == f.Kind {
			return true
		}
	}
	return false
}

// Compound returns the compound finding of session when one is due: the
// session holds at least MinKinds kinds and their combined score reaches
// Threshold and exceeds every severity seen in the session so far. Call it
// once after folding all findings of an event, so one event yields at most
// one compound finding per session.
// The returned finding carries Kind, Severity, Confidence, Explanation,
// EvidenceIDs and Features; the caller fills the rest (detector Name,
// agent, session, time, ID) and folds it back in.
func (t *Tracker) Compound(session string) (models.Finding, bool) {
	if t == nil {
		return models.Finding{}, false
	}
	st := t.sessions.Peek(session)
	if st == nil || len(st.kinds) < t.opts.MinKinds {
		return models.Finding{}, false
	}
	score := st.score(t.opts.MaxSeverity)
	if score < t.opts.Threshold || score <= st.max {
		return models.Finding{}, false
	}
	return st.finding(score), true
}

// End forgets a session (call it at the session's session_end).
func (t *Tracker) End(session string) {
	if t != nil {
		t.sessions.Delete(session)
	}
}

// add keeps f if it is the strongest of its (detector, kind) and reports
// whether the session's contributions changed.
func (st *state) add(f *models.Finding, maxKinds int) bool {
	c := contribution{detector: f.Detector, kind: f.Kind, severity: f.Severity, findingID: f.ID,
		evidence: slices.Clone(f.EvidenceIDs)}
	for i := range st.kinds {
		k := &st.kinds[i]
		if k.detector == f.Detector && k.kind == f.Kind {
			if f.Severity <= k.severity {
				return false
			}
			*k = c
			return true
		}
	}
	if len(st.kinds) < maxKinds {
		st.kinds = append(st.kinds, c)
		return true
	}
	weakest := 0
	for i := range st.kinds {
		if st.kinds[i].severity < st.kinds[weakest].severity {
			weakest = i
		}
	}
	if f.Severity <= st.kinds[weakest].severity {
		return false
	}
	st.kinds[weakest] = c
	return true
}

// score is the noisy-OR of the per-kind maxima, capped.
func (st *state) score(ceiling uint8) uint8 {
	return uint8(min(math.Round(NoisyOR(st.severities())), float64(ceiling)))
}

func (st *state) severities() []uint8 {
	s := make([]uint8, len(st.kinds))
	for i, k := range st.kinds {
		s[i] = k.severity
	}
	return s
}

// NoisyOR combines severities on the 0–100 scale as independent
// probabilities: 100 · (1 − Π (1 − s_i/100)).
func NoisyOR(sev []uint8) float64 {
	p := 1.0
	for _, s := range sev {
		p *= 1 - float64(min(s, 100))/100
	}
	return 100 * (1 - p)
}

// finding builds the compound finding from the session's contributions.
func (st *state) finding(score uint8) models.Finding {
	var parts, subject []string
	var evidence []string
	seen := map[string]bool{}
	features := make([]models.Feature, 0, len(st.kinds)+1)
	maxSingle := uint8(0)
	for _, k := range st.kinds {
		parts = append(parts, fmt.Sprintf("%s/%s %d (finding %s)", k.detector, k.kind, k.severity, k.findingID))
		subject = append(subject, k.findingID)
		for _, id := range k.evidence {
			if !seen[id] {
				seen[id] = true
				evidence = append(evidence, id)
			}
		}
		features = append(features, models.Feature{Name: "severity:" + k.detector + "/" + k.kind, Observed: float64(k.severity)})
		maxSingle = max(maxSingle, k.severity)
	}
	features = append(features, models.Feature{Name: "combined_severity", Observed: float64(score), Baseline: float64(maxSingle)})
	return models.Finding{
		Kind: KindCompound,
		// The contributing findings: two compounds of a session can share
		// their evidence union yet combine different findings.
		Subject:  strings.Join(subject, ","),
		Severity: score,
		// As certain as the evidence is many-sided: two kinds 0.5, four 0.75.
		Confidence: 1 - 1/float64(len(st.kinds)),
		Explanation: fmt.Sprintf("%d distinct deviations in one session combine to severity %d (noisy-OR of the strongest finding of each kind; the strongest alone is %d): %s",
			len(st.kinds), score, maxSingle, strings.Join(parts, "; ")),
		EvidenceIDs: evidence,
		Features:    features,
	}
}
