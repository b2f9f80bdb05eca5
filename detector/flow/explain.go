package flow

// Explanations and evidence of the flow findings.

import (
	"slices"
	"strconv"
	"strings"

	"github.com/tetherhq/tether/detector/values"
	"github.com/tetherhq/tether/models"
)

// instructedFinding builds the instructed_call finding of a call from its
// instructed values: SeverityInstructedCallDirected when the request
// accounts for every value (it describes the value's record, or every
// instructed source was user-directed and the request delegates to such
// content: "do the tasks on my TODO list at …"), else
// SeverityInstructedCall.
func (d *Detector) instructedFinding(hs []hit, ev *models.Event, delegated bool) models.Finding {
	// pointing at a source authorises reading it, not obeying it: only a
	// request that delegates to the source, or that describes the record
	// the value sat in, accounts for following it
	undirected := false
	for _, h := range hs {
		undirected = undirected || !(h.pointed || (delegated && h.delegable()))
	}
	sev, conf := d.opts.SeverityInstructedCallDirected, 0.4
	if undirected {
		sev, conf = d.opts.SeverityInstructedCall, 0.75
	}
	evidence := make([]string, 0, min(len(hs), maxListed)+1)
	for _, h := range hs {
		if h.src.event != "" && !slices.Contains(evidence, h.src.event) && len(evidence) < maxListed {
			evidence = append(evidence, h.src.event)
		}
	}
	evidence = append(evidence, ev.ID)
	b := d.expl[:0]
	b = append(b, ev.ToolName...)
	b = append(b, " call "...)
	b = append(b, ev.ID...)
	b = append(b, " carries a value the user did not supply that entered the session in tool-result content surrounded by instructions to the agent: "...)
	for i, h := range hs {
		if i >= maxListed {
			break
		}
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, h.class.String()...)
		b = append(b, ' ')
		b = strconv.AppendQuote(b, Redact(h.value, h.class))
		b = append(b, " in argument "...)
		b = strconv.AppendQuote(b, h.arg)
		b = append(b, ", from "...)
		b = append(b, h.src.tool...)
		b = append(b, " result "...)
		b = append(b, h.src.event...)
		b = append(b, " (cues: "...)
		b = appendCues(b, h.cues)
		b = append(b, ')')
	}
	if len(hs) > maxListed {
		b = append(b, "; and "...)
		b = strconv.AppendInt(b, int64(len(hs)-maxListed), 10)
		b = append(b, " more"...)
	}
	if !undirected {
		b = append(b, "; the user's request accounts for the value (it describes its record, or delegates to the source the user named)"...)
	}
	d.expl = b
	return models.Finding{
		Kind:        KindInstructedCall,
		Severity:    sev,
		Confidence:  conf,
		Explanation: string(b),
		EvidenceIDs: evidence,
		Features:    []models.Feature{{Name: "flow_values", Observed: float64(len(hs))}},
	}
}

// appendCues appends the names of the cue categories in c, "+"-separated.
func appendCues(b []byte, c cueCat) []byte {
	first := true
	for _, x := range [...]struct {
		c    cueCat
		name string
	}{{cueAddressee, "addressee"}, {cueDirective, "directive"}, {cueRole, "role"}, {cueImperative, "imperative"}} {
		if c&x.c == 0 {
			continue
		}
		if !first {
			b = append(b, '+')
		}
		b = append(b, x.name...)
		first = false
	}
	return b
}

func labelNames(t *models.ToolSpec) string {
	if t == nil {
		return ""
	}
	var parts []string
	for _, l := range t.Labels {
		if l == models.LabelPublicSink || l == models.LabelDestructive {
			parts = append(parts, string(l))
		}
	}
	return strings.Join(parts, "+")
}

// maxListed bounds the values named in one explanation and the sources in
// its evidence.
const maxListed = 3

func (d *Detector) finding(kind string, hs []hit, ev *models.Event, agent *models.AgentSpec, destructive, trustedDest bool, labels string, auth authority) (models.Finding, bool) {
	var (
		sev        uint8
		conf       float64
		designed   bool
		srcLabel   string
		evidence   []string
		designedAs string
		note       string
	)
	switch kind {
	case KindUntrustedToSink:
		instructed, authorised := false, true
		for i := range hs {
			instructed = instructed || hs[i].instructed
			authorised = authorised && auth.authorised(&hs[i])
		}
		srcLabel = string(models.LabelUntrustedContent)
		switch {
		case instructed:
			sev, conf, note = d.opts.SeverityInstructed, 0.85, "; instruction cues surround the value in its source"
		case !auth.called && !authorised:
			sev, conf, note = d.opts.SeverityUncalled, 0.75, "; the user's request does not ask for this action"
		case authorised && auth.called:
			sev, conf, note = d.opts.SeverityAuthorised, 0.4, "; the user asked for the action and pointed at the source"
			destructive = false // asked for: no bonus
		case planted(hs) && d.opts.SeverityPlanted > d.opts.SeverityUntrusted:
			sev, conf, note = d.opts.SeverityPlanted, 0.75, "; the destination was planted in its source: a new address in free text of a record the request does not describe"
		case authorised:
			sev, conf, note = d.opts.SeverityDirected, 0.5, "; the request delegates to the source the user named"
			destructive = false // the directed severity is a cap
		default:
			sev, conf = d.opts.SeverityUntrusted, 0.7
		}
		if destructive {
			sev = min(sev+d.opts.DestructiveBonus, 100)
		}
		designedAs = FlowUntrustedToSink
		if destructive && !slices.Contains(agent.DesignedFlows, FlowUntrustedToSink) {
			designedAs = FlowUntrustedDestructive
		}
	case KindUntrustedFetch:
		srcLabel = "outsider-written"
		sev, conf, note = d.opts.SeverityFetch, 0.6, "; the call's argument is a location or address only outsider content named, and the user's request neither asks for this action nor describes the value's record"
		if planted(hs) {
			sev, conf, note = max(sev, d.opts.SeverityPlanted), 0.7, note+"; the value was planted in its source (a new address in free text)"
		}
	case KindPrivateToSink:
		srcLabel = string(models.LabelPrivateData)
		sev, conf, note = d.privateSeverity(hs, auth)
		if trustedDest && sev > d.opts.SeverityPrivateToTrusted && sev < d.opts.SeverityPrivateDestInstructed {
			sev, conf, note = d.opts.SeverityPrivateToTrusted, 0.4, "; the call's destination is a value the user supplied"
		}
		designedAs = FlowPrivateToSink
	default:
		sev, conf = d.opts.SeverityUnexplained, 0.4
	}
	sev, conf, note = d.anomalousFloor(kind, hs, sev, conf, note)
	if designedAs != "" && slices.Contains(agent.DesignedFlows, designedAs) {
		designed, sev, conf = true, d.opts.SeverityDesigned, 0.9
	}
	// The explanation is appended into one scratch buffer, byte for byte
	// what the fmt verbs it replaces (%s, %q, %d) produce.
	evidence = make([]string, 0, min(len(hs), maxListed)+1)
	for _, h := range hs {
		if h.src.event != "" && !slices.Contains(evidence, h.src.event) && len(evidence) < maxListed {
			evidence = append(evidence, h.src.event)
		}
	}
	evidence = append(evidence, ev.ID)
	b := d.expl[:0]
	switch kind {
	case KindUnexplainedDestination:
		b = append(b, ev.ToolName...)
		b = append(b, " call "...)
		b = append(b, ev.ID...)
		b = append(b, " ("...)
		b = append(b, labels...)
		b = append(b, ") names a destination found in no user message and no tool result of the session: "...)
		b = appendListed(b, hs)
	default:
		b = append(b, srcLabel...)
		b = append(b, " data reaches "...)
		b = append(b, ev.ToolName...)
		b = append(b, " call "...)
		b = append(b, ev.ID...)
		b = append(b, " ("...)
		b = append(b, labels...)
		b = append(b, ") without the user supplying it: "...)
		b = appendListed(b, hs)
		b = append(b, note...)
		if designed {
			b = append(b, "; designed=true ("...)
			b = append(b, designedAs...)
			b = append(b, " is a declared flow)"...)
		}
	}
	d.expl = b
	expl := string(b)
	return models.Finding{
		Kind:        kind,
		Severity:    sev,
		Confidence:  conf,
		Explanation: expl,
		EvidenceIDs: evidence,
		Features:    []models.Feature{{Name: "flow_values", Observed: float64(len(hs))}},
	}, designed
}

// planted reports whether some hit's value was planted in its source.
func planted(hs []hit) bool {
	for i := range hs {
		if hs[i].planted {
			return true
		}
	}
	return false
}

// appendListed appends the values of hs as the explanation lists them:
// at most maxListed, "; "-separated, then how many more there are.
func appendListed(b []byte, hs []hit) []byte {
	for i, h := range hs {
		if i >= maxListed {
			break
		}
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, h.class.String()...)
		b = append(b, ' ')
		b = strconv.AppendQuote(b, Redact(h.value, h.class))
		b = append(b, " in argument "...)
		b = strconv.AppendQuote(b, h.arg)
		if h.src.event != "" {
			b = append(b, ", from "...)
			b = append(b, h.src.tool...)
			b = append(b, " result "...)
			b = append(b, h.src.event...)
		}
	}
	if len(hs) > maxListed {
		b = append(b, "; and "...)
		b = strconv.AppendInt(b, int64(len(hs)-maxListed), 10)
		b = append(b, " more"...)
	}
	return b
}

// Redact hides the middle of values that identify a person or an account
// (e-mail addresses, numbers, ids): the first 3 and last 2 characters stay.
// Hosts, URLs and file names are kept (truncated to 64 bytes).
func Redact(v string, c values.Class) string {
	switch c {
	case values.Email, values.Number, values.ID:
		if len(v) <= 6 {
			return strings.Repeat("*", len(v))
		}
		return v[:3] + "…" + v[len(v)-2:]
	}
	if len(v) > 64 {
		return v[:61] + "…"
	}
	return v
}
