// Package outputs learns, per tool, the usual shape of what the tool
// returns, and marks the parts of a result that depart from it: a value
// class the field never holds (an IBAN or an e-mail address in a field of
// names), free text in a field that holds short records, a value far longer
// than the field's, a field the tool never returns.
//
// A result is split into fields (parse.go): the leaves of a JSON document
// by key path, or the lines of text by the "key: value" labels above them
// (the YAML-like records many runtimes print), "$text" for unlabelled
// lines. Per scope and tool, each field keeps streaming statistics
// (stats.go): an exponentially weighted mean and variance of the log
// length of its values (gonum's normal distribution gives the tail
// probability of a new length) and the exponentially weighted frequency of
// each value class (classes.go, from detector/values, the one value
// classifier of the detectors: e-mail, URL, host, IBAN, account number,
// phone, money amount, date, path, free-text sentence). A tool also keeps
// how often its results bring a field it has not returned before.
//
// Scopes: every baseline is kept for the agent and for its peer group
// (models.AgentSpec.PeerGroup, the fleet of agents with one purpose); a
// result is judged against the agent's baseline once it is warm, else
// against the peer group's, so a young agent borrows the fleet's baseline.
//
// Assess returns the out-of-shape spans of a result and then learns it.
// A value class judged out of shape is not learned into its field's shape
// (and the value's length weighs a quarter), so content planted into some
// results does not become the baseline, even where half of a tool's results
// carry it; a class that comes to be in most of a field's recent results
// (AdoptFraction) is a lasting change of the tool's output and is adopted. The baseline is learned
// online from the stream itself: nothing is fitted on labels.
//
// The flow detector (detector/flow) reads the assessment of each result
// through the same Detector (the engine links them): a value read from an
// out-of-shape span that drives a consequential call is evidence of
// injected content whatever its wording. The detector itself reports
// output_shape_deviation in the low band (SeverityDeviation, default 30,
// like flow's injection_attempt: evidence of an attempt, below the alert
// threshold and not compounded), once per result with
// out-of-shape spans that hold a contact point or free text.
//
// Memory is bounded: the (scope, tool) baselines' bytes are accounted to
// the memory budget (SetMeter; least recently used evicted first when it
// is exceeded, counted), MaxScopes is an optional ceiling (0: none), each
// baseline holds at most MaxFields fields (fields beyond it are neither
// learned nor judged new), about 100 bytes per field plus its path. Cost is
// linear in the result's size (MaxScanBytes bounds it).
package outputs

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"unsafe"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "outputs"

// KindShapeDeviation is the finding kind of a result with out-of-shape
// spans.
const KindShapeDeviation = "output_shape_deviation"

// ErrOptions wraps every error of Options.Validate.
var ErrOptions = errors.New("outputs: invalid options")

// Options configures the detector.
type Options struct {
	// MaxScopes bounds the (agent or peer group, tool) baselines kept (0:
	// no bound but the memory budget).
	MaxScopes int
	// MaxFields bounds the fields of one baseline.
	MaxFields int
	// MaxLeaves bounds the values of one result that are judged and
	// learned; MaxScanBytes bounds the bytes of a result read.
	MaxLeaves    int
	MaxScanBytes int
	// MinObservations is how many values a field must have seen before
	// its values are judged, and MinResults how many results a tool must
	// have returned before a field new to it is judged.
	MinObservations int
	MinResults      int
	// Alpha is the smoothing factor of the exponentially weighted
	// statistics (about a window of 1/Alpha values).
	Alpha float64
	// RareFraction: a value class (or a new field) is out of shape when
	// its weighted frequency in the field (or the tool's rate of new
	// fields) is below it.
	RareFraction float64
	// AdoptFraction: an out-of-shape class is adopted into a field's
	// shape once it is in at least this weighted fraction of the field's
	// recent results (a lasting change of the tool's output, not content
	// planted into some results).
	AdoptFraction float64
	// LengthP: a value is too long for its field when the normal tail
	// probability of its log length is below LengthP and it is at least
	// MinLongBytes long.
	LengthP      float64
	MinLongBytes int
	// SeverityDeviation is the severity of output_shape_deviation: the
	// low band (30), as flow's injection_attempt — content aimed at the
	// agent, not yet an incident.
	SeverityDeviation uint8
}

// DefaultOptions returns the production settings. The thresholds are set
// once from what they mean, not fitted on an evaluation set: a class in
// fewer than 1 in 20 of a field's results is not part of its shape, one in
// most of them (half) is, a field is judged after 20 results (a tool
// after 10), and a length beyond the 1-in-10,000 tail of the field's log
// lengths is too long.
func DefaultOptions() Options {
	return Options{
		MaxScopes:         0,
		MaxFields:         64,
		MaxLeaves:         2048,
		MaxScanBytes:      256 << 10,
		MinObservations:   20,
		MinResults:        10,
		Alpha:             0.02,
		RareFraction:      0.05,
		AdoptFraction:     0.5,
		LengthP:           1e-4,
		MinLongBytes:      64,
		SeverityDeviation: 30,
	}
}

// Validate checks the options.
func (o Options) Validate() error {
	var errs []string
	if o.MaxFields < 1 || o.MaxLeaves < 1 || o.MaxScanBytes < 1 {
		errs = append(errs, "MaxFields, MaxLeaves and MaxScanBytes must be positive")
	}
	if o.MaxScopes < 0 {
		errs = append(errs, "MaxScopes is negative")
	}
	if o.MinObservations < 1 || o.MinResults < 1 {
		errs = append(errs, "MinObservations and MinResults must be positive")
	}
	if !(o.Alpha > 0 && o.Alpha <= 1) {
		errs = append(errs, fmt.Sprintf("Alpha %v not in (0, 1]", o.Alpha))
	}
	if !(o.RareFraction > 0 && o.RareFraction < 1) {
		errs = append(errs, fmt.Sprintf("RareFraction %v not in (0, 1)", o.RareFraction))
	}
	if !(o.AdoptFraction > o.RareFraction && o.AdoptFraction <= 1) {
		errs = append(errs, fmt.Sprintf("AdoptFraction %v not in (RareFraction, 1]", o.AdoptFraction))
	}
	if !(o.LengthP > 0 && o.LengthP < 0.5) {
		errs = append(errs, fmt.Sprintf("LengthP %v not in (0, 0.5)", o.LengthP))
	}
	if o.SeverityDeviation > 100 {
		errs = append(errs, "SeverityDeviation above 100")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrOptions, strings.Join(errs, "; "))
	}
	return nil
}

// Reason says why a span is out of shape.
type Reason uint8

// Reasons, strongest last.
const (
	ReasonLong     Reason = iota + 1 // far longer than the field's values
	ReasonNewField                   // a field the tool does not return
	ReasonClass                      // a value class the field does not hold
)

var reasonNames = [...]string{"", "long", "new_field", "new_class"}

// String returns the reason's name.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Span is an out-of-shape value of a result: its byte range in the result
// text, its field path, why it is out of shape and the classes it holds
// that the field does not (ReasonClass).
type Span struct {
	Start, End int
	Field      string
	Reason     Reason
	Novel      []Class
}

// Detector learns and judges tool outputs. It is not safe for concurrent
// use (one engine goroutine drives it), except Evictions.
type Detector struct {
	opts      Options
	tools     *lru.LRU[toolStats]
	evictions atomic.Uint64
	parser    parser

	// the assessment of the last event, shared with the flow detector
	last      *models.Event
	lastID    string
	spans     []Span
	judged    []judged
	touched   []touchedField // the fields one learn call updates (fieldStats.mark)
	keyAgent  []byte
	keyGroups []byte
}

// judged is the per-leaf scratch of one assessment.
type judged struct {
	classes classSet
	novel   classSet // the classes that made it out of shape
	span    int      // index in spans, or -1
	logLen  float64  // log(1 + bytes)
}

// New returns a Detector; invalid options fall back to DefaultOptions
// (the configuration validates them first).
func New(opts Options) *Detector {
	if opts.Validate() != nil {
		opts = DefaultOptions()
	}
	d := &Detector{opts: opts, tools: lru.New[toolStats](opts.MaxScopes)}
	d.tools.CountInto(&d.evictions)
	return d
}

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// SetMeter implements detector.Bounded: a baseline is its key, field map,
// paths and field statistics.
func (d *Detector) SetMeter(m *lru.Meter) {
	d.tools.Metered(m, Name+"/baselines", baselineBytes)
}

func baselineBytes(key string, ts *toolStats) int {
	n := lru.String(key) + lru.Slice(ts.Fields) + ts.pathBytes + len(ts.Fields)*lru.Alloc(int(unsafe.Sizeof(fieldStats{})))
	for _, r := range ts.Fields {
		if r.f.Pending != nil {
			n += lru.Alloc(int(unsafe.Sizeof(*r.f.Pending)))
		}
	}
	return n
}

// Evictions implements detector.Bounded; safe for concurrent use.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// Baselines returns how many (scope, tool) baselines are kept.
func (d *Detector) Baselines() int { return d.tools.Len() }

// Observe implements detector.Detector: it assesses tool results and
// reports output_shape_deviation for a result whose out-of-shape spans
// hold a contact point or free text.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	spans := d.Assess(ev, agent)
	var top *Span
	n := 0
	for i := range spans {
		s := &spans[i]
		if s.Reason == ReasonLong && len(s.Novel) == 0 {
			continue
		}
		n++
		if top == nil || s.Reason > top.Reason {
			top = s
		}
	}
	if top == nil {
		return
	}
	why := fmt.Sprintf("result of %s departs from the tool's usual output: field %q %s", ev.ToolName, top.Field, describe(top))
	if n > 1 {
		why += fmt.Sprintf(" (and %d more values)", n-1)
	}
	emit(models.Finding{
		Kind:        KindShapeDeviation,
		Severity:    d.opts.SeverityDeviation,
		Confidence:  0.4,
		Explanation: why,
		EvidenceIDs: []string{ev.ID},
		Features:    []models.Feature{{Name: "out_of_shape_values", Observed: float64(n)}},
	})
}

func describe(s *Span) string {
	names := make([]string, len(s.Novel))
	for i, c := range s.Novel {
		names[i] = c.String()
	}
	switch s.Reason {
	case ReasonClass:
		return "holds " + strings.Join(names, ", ") + ", a value class the field does not hold"
	case ReasonNewField:
		return "is a field the tool does not return, holding " + cmp.Or(strings.Join(names, ", "), "a value")
	default:
		return "holds a value far longer than the field's, with " + strings.Join(names, ", ")
	}
}

// Assess returns the out-of-shape spans of ev's result (tool_result events;
// nil otherwise), judged against the baselines of ev's agent and its peer
// group, and then learns the result into both. Spans are sorted by start
// and do not overlap. Assessing the same event again (the flow detector and
// this detector share one assessment) returns the same spans without
// learning twice; the slice is valid until the next event is assessed.
func (d *Detector) Assess(ev *models.Event, agent *models.AgentSpec) []Span {
	if ev == d.last && ev.ID == d.lastID {
		return d.spans
	}
	d.last, d.lastID = ev, ev.ID
	d.spans = d.spans[:0]
	if ev.Kind != models.KindToolResult || ev.ToolName == "" {
		return nil
	}
	text := ev.Result
	if text == "" {
		text = ev.Content
	}
	if text == "" {
		return nil
	}
	if len(text) > d.opts.MaxScanBytes {
		text = text[:d.opts.MaxScanBytes]
	}
	leaves := d.parser.parse(text, d.opts.MaxLeaves)
	own := d.baseline(scopeKey(&d.keyAgent, 'a', ev.AgentID, ev.ToolName))
	var peer *toolStats
	if agent != nil && agent.PeerGroup != "" {
		peer = d.baseline(scopeKey(&d.keyGroups, 'g', agent.PeerGroup, ev.ToolName))
	}
	judge := own
	if own.Results < int32(d.opts.MinResults) && peer != nil {
		judge = peer // a young agent borrows its fleet's baseline
	}
	d.judged = d.judged[:0]
	newField := false
	for _, l := range leaves {
		cs := classify(text[l.start:l.end])
		j := judged{classes: cs, span: -1, logLen: math.Log1p(float64(l.end - l.start))}
		if s, ok := d.judge(judge, l, cs, j.logLen); ok {
			j.span = len(d.spans)
			for _, c := range s.Novel {
				j.novel |= 1 << c
			}
			d.spans = append(d.spans, s)
		}
		d.judged = append(d.judged, j)
		newField = newField || (!judge.has(l.path) && len(judge.Fields) < d.opts.MaxFields)
	}
	for _, ts := range [...]*toolStats{own, peer} {
		if ts != nil {
			d.learn(ts, leaves, newField)
		}
	}
	return d.spans
}

// scopeKey builds kind + id + NUL + tool in buf.
func scopeKey(buf *[]byte, kind byte, id, tool string) []byte {
	b := append((*buf)[:0], kind)
	b = append(b, id...)
	b = append(b, 0)
	b = append(b, tool...)
	*buf = b
	return b
}

func (d *Detector) baseline(key []byte) *toolStats {
	if ts := d.tools.Get(string(key)); ts != nil {
		return ts
	}
	ts, _ := d.tools.Put(string(key))
	return ts
}

// judge decides whether leaf l (classes cs) is out of shape for ts.
func (d *Detector) judge(ts *toolStats, l leaf, cs classSet, logLen float64) (Span, bool) {
	salient := cs & (contactClasses | 1<<ClassProse)
	f := ts.field(l.path)
	if f == nil {
		if ts.Results < int32(d.opts.MinResults) || ts.NewFields.Mean >= d.opts.RareFraction || len(ts.Fields) >= d.opts.MaxFields || salient == 0 {
			return Span{}, false
		}
		return Span{Start: l.start, End: l.end, Field: l.path, Reason: ReasonNewField, Novel: classList(salient)}, true
	}
	if f.Seen < int32(d.opts.MinObservations) {
		return Span{}, false
	}
	var novel classSet
	for c := Class(0); c < numClasses; c++ {
		if salient.has(c) && f.Freq[c] < d.opts.RareFraction {
			novel |= 1 << c
		}
	}
	if novel != 0 {
		return Span{Start: l.start, End: l.end, Field: l.path, Reason: ReasonClass, Novel: classList(novel)}, true
	}
	if n := l.end - l.start; n >= d.opts.MinLongBytes {
		sd := max(f.Length.StdDev(), 0.25)
		if p := (distuv.Normal{Mu: f.Length.Mean, Sigma: sd}).Survival(logLen); p < d.opts.LengthP {
			return Span{Start: l.start, End: l.end, Field: l.path, Reason: ReasonLong, Novel: classList(salient)}, true
		}
	}
	return Span{}, false
}

func classList(s classSet) []Class {
	var out []Class
	for c := Class(0); c < numClasses; c++ {
		if s.has(c) {
			out = append(out, c)
		}
	}
	return out
}

// learn folds the result's leaves into ts: out-of-shape lengths weigh a
// quarter.
func (d *Detector) learn(ts *toolStats, leaves []leaf, newField bool) {
	ts.Results = min(ts.Results+1, math.MaxInt32-1)
	ts.NewFields.Add(b2f(newField), d.opts.Alpha)
	for i, l := range leaves {
		j := d.judged[i]
		f := ts.field(l.path)
		if f == nil {
			if len(ts.Fields) >= d.opts.MaxFields {
				continue
			}
			f = ts.addField(l.path)
		}
		a := d.opts.Alpha
		if j.span >= 0 {
			a /= 4
		}
		f.Length.Add(j.logLen, a)
		if f.mark == 0 {
			d.touched = append(d.touched, touchedField{f: f})
			f.mark = int32(len(d.touched))
		}
		t := &d.touched[f.mark-1]
		t.classes |= j.classes
		t.novel |= j.novel
	}
	for _, t := range d.touched {
		t.f.addClasses(t.classes, t.novel, d.opts.Alpha, d.opts.AdoptFraction)
		t.f.mark = 0
	}
	clear(d.touched)
	d.touched = d.touched[:0]
}

// touchedField is a field one learn call updates: what the result's
// values of the field held, and which of those classes were out of shape.
type touchedField struct {
	f              *fieldStats
	classes, novel classSet
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// OutOfShape implements flow.OutputBaseline: the byte ranges of the spans
// Assess returns for ev, appended to dst.
func (d *Detector) OutOfShape(ev *models.Event, agent *models.AgentSpec, dst [][2]int) [][2]int {
	for _, s := range d.Assess(ev, agent) {
		dst = append(dst, [2]int{s.Start, s.End})
	}
	return dst
}
