package flow

// The hook to the tool-output baselines (detector/outputs): a value read
// from a part of a result that departs from its tool's usual output (a
// value class the field never holds, free text where the tool returns
// records, a field the tool never returns) is marked anomalous, and a flow
// whose destination or fetched location is such a value is graded at
// least SeverityAnomalous — even where the request asks for the action and
// the user pointed at the source (the IBAN inside a paragraph that should
// not be in the bill the user asked to pay, not the bill's own IBAN).

import (
	"strings"

	"github.com/tetherhq/tether/models"
)

// OutputBaseline is what the flow detector reads of the tool-output
// baselines: the byte ranges [start, end) of ev's result that depart from
// its tool's usual output, sorted by start and not overlapping, appended to
// dst. The engine links the outputs detector (detector/outputs) when both
// run; it is asked about every tool result the flow detector reads.
type OutputBaseline interface {
	OutOfShape(ev *models.Event, agent *models.AgentSpec, dst [][2]int) [][2]int
}

// SetOutputBaseline links the tool-output baselines (nil: none).
func (d *Detector) SetOutputBaseline(b OutputBaseline) { d.outputs.base = b }

// OutputBaseline returns the linked tool-output baselines (nil: none).
func (d *Detector) OutputBaseline() OutputBaseline { return d.outputs.base }

// outputSpans is the flow detector's view of the current result's
// out-of-shape spans.
type outputSpans struct {
	base  OutputBaseline
	spans [][2]int
	cur   int
}

// load fetches the out-of-shape spans of the current result.
func (o *outputSpans) load(ev *models.Event, agent *models.AgentSpec) {
	o.spans, o.cur = o.spans[:0], 0
	if o.base != nil {
		o.spans = o.base.OutOfShape(ev, agent, o.spans)
	}
}

// at reports whether offset at falls in an out-of-shape span; offsets must
// not decrease between calls for one result (the extractor reads in
// order).
func (o *outputSpans) at(at int) bool {
	for o.cur < len(o.spans) && o.spans[o.cur][1] <= at {
		o.cur++
	}
	return o.cur < len(o.spans) && o.spans[o.cur][0] <= at
}

// markAnomalous sets the anomalous mark of the call's hits whose value was
// read from an out-of-shape span and is the call's destination or fetched
// location: a whole argument, not one of the values a payload carries.
func (d *Detector) markAnomalous(s *session) {
	if d.outputs.base == nil {
		return
	}
	for i := range d.hits {
		h := &d.hits[i]
		if e, _, _ := d.lookup(s, h.value); e.anomalous && (h.kind == KindUntrustedFetch || d.wholeArg(h)) {
			h.anomalous = true
		}
	}
}

// wholeArg reports whether h's value is the whole of its argument.
func (d *Detector) wholeArg(h *hit) bool {
	for _, l := range d.leaves {
		if l.path == h.arg && strings.EqualFold(strings.TrimSpace(l.text), h.value) {
			return true
		}
	}
	return false
}

// anomalousFloor raises a flow finding to SeverityAnomalous when one of its
// values is an address (a destination or fetched location) read from an
// out-of-shape span of its result.
func (d *Detector) anomalousFloor(kind string, hs []hit, sev uint8, conf float64, note string) (uint8, float64, string) {
	if d.opts.SeverityAnomalous == 0 || (kind != KindUntrustedToSink && kind != KindPrivateToSink && kind != KindUntrustedFetch) {
		return sev, conf, note
	}
	for i := range hs {
		if hs[i].anomalous && isAddress(hs[i].value, hs[i].class) {
			if sev < d.opts.SeverityAnomalous {
				return d.opts.SeverityAnomalous, max(conf, 0.7), note + "; the value sat in a part of its result that departs from the tool's usual output"
			}
			return sev, min(conf+0.1, 0.95), note + "; the value sat in a part of its result that departs from the tool's usual output"
		}
	}
	return sev, conf, note
}

// isOwn reports whether v is one of the current result's own entities (a
// field value of its records, or the fetched page's own address): those
// are the result's shape even where the tool's baseline has not seen
// their class (a contact page's own e-mail address), so only values in
// free text count as anomalous.
func (d *Detector) isOwn(v string) bool {
	_, ok := d.own[v]
	return ok
}

// HasOutputBaseline reports whether tool-output baselines are linked.
func (d *Detector) HasOutputBaseline() bool { return d.outputs.base != nil }
