package flow

// Call judgement: the provenance of a tool call's consequential values and
// the severity of the flow it makes.

import (
	"strings"

	"github.com/tetherhq/tether/models"
)

// hit is one tainted or unexplained value found in a sink call's arguments.
type hit struct {
	kind                   string
	arg                    string
	value                  string
	class                  Class
	src                    source
	instructed, undirected bool
	// dest: the value is the call's destination (a whole argument string of
	// an address class), not a payload it carries.
	dest bool
	// cues: the instruction-cue categories near the value (instructed_call).
	cues cueCat
}

func (d *Detector) judgeCall(s *session, ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if len(ev.Arguments) == 0 {
		return
	}
	tool := agent.Tool(ev.ToolName)
	var sink, destructive bool
	if tool != nil {
		sink, destructive = tool.Has(models.LabelPublicSink), tool.Has(models.LabelDestructive)
	}
	// instructed_call judges every call, but only sessions (or ancestors)
	// holding an instructed value can produce one.
	instr := false
	if d.opts.InstructedCall {
		d.chain(s, func(a *session) bool { instr = instr || a.hasInstructed; return !instr })
	}
	if !sink && !destructive && !instr {
		return
	}
	leaves, ok := d.args(ev)
	if !ok {
		return
	}
	d.hits = d.hits[:0]
	d.ihits = d.ihits[:0]
	context := false
	d.chain(s, func(a *session) bool { context = context || a.context; return !context })
	// seenVals holds the non-trusted values already judged in this call;
	// its keys alias the arena and it is cleared before the call returns.
	seenVal := d.seenVals
	trustedDest := false
	for _, l := range leaves {
		path := l.path
		whole := isSingleToken(l.text)
		d.scan(l.text, func(v string, c Class) {
			if _, dup := seenVal[v]; dup {
				return
			}
			e, seen, trusted := d.lookup(s, v)
			if trusted {
				trustedDest = trustedDest || c.RecipientLike()
				return
			}
			seenVal[v] = struct{}{}
			if instr && e.instructed && e.flags&(fromUntrusted|fromPrivate) != 0 && !d.wasReported(s, ev.ToolName, v) {
				d.ihits = append(d.ihits, hit{kind: KindInstructedCall, arg: path, value: v, class: c, src: e.instr,
					instructed: true, undirected: e.instrUndirected, cues: e.cues})
			}
			if !sink && !destructive {
				return
			}
			switch {
			case e.flags&fromUntrusted != 0:
				d.hits = append(d.hits, hit{kind: KindUntrustedToSink, arg: path, value: v, class: c, src: e.untrusted, instructed: e.instructed, undirected: e.undirected})
			case e.flags&fromPrivate != 0 && sink:
				d.hits = append(d.hits, hit{kind: KindPrivateToSink, arg: path, value: v, class: c, src: e.private, instructed: e.instructed, undirected: e.privUndirected, dest: whole && isAddress(v, c)})
			case !seen && context && c.RecipientLike():
				d.hits = append(d.hits, hit{kind: KindUnexplainedDestination, arg: path, value: v, class: c})
			}
		})
	}
	clear(seenVal)
	if len(d.hits) == 0 && len(d.ihits) == 0 {
		return
	}
	// The sink findings of the call; the strongest flow finding
	// (untrusted_to_sink or private_to_sink) competes with instructed_call.
	var (
		fs       [3]models.Finding
		n        int
		flowSev  = -1
		designed bool
	)
	if len(d.hits) > 0 {
		labels := labelNames(tool)
		for _, kind := range [...]string{KindUntrustedToSink, KindPrivateToSink, KindUnexplainedDestination} {
			d.hs = d.hs[:0]
			for _, h := range d.hits {
				if h.kind == kind {
					d.hs = append(d.hs, h)
				}
			}
			if len(d.hs) == 0 {
				continue
			}
			f, des := d.finding(kind, d.hs, ev, agent, destructive, trustedDest, labels)
			if kind != KindUnexplainedDestination {
				flowSev = max(flowSev, int(f.Severity))
				designed = designed || des
			}
			fs[n] = f
			n++
		}
	}
	// A declared (designed) flow keeps its informational finding; otherwise
	// only the stronger of the flow finding and instructed_call is emitted.
	if len(d.ihits) > 0 && !designed {
		f := d.instructedFinding(d.ihits, ev)
		if int(f.Severity) > flowSev {
			for _, h := range d.ihits {
				d.markReported(s, ev.ToolName, h.value)
			}
			for _, g := range fs[:n] {
				if g.Kind == KindUnexplainedDestination {
					emit(g)
				}
			}
			emit(f)
			return
		}
	}
	for _, f := range fs[:n] {
		emit(f)
	}
}

// reportKey builds the reported-set key of (tool, value) in d.key.
func (d *Detector) reportKey(tool, v string) []byte {
	d.key = append(append(append(d.key[:0], tool...), 0), v...)
	return d.key
}

func (d *Detector) wasReported(s *session, tool, v string) bool {
	if s.reported.m == nil {
		return false
	}
	_, ok := s.reported.m[string(d.reportKey(tool, v))]
	return ok
}

func (d *Detector) markReported(s *session, tool, v string) {
	s.reported.put(string(d.reportKey(tool, v)), struct{}{})
}

// privateSeverity grades a private_to_sink finding by the position and
// sources of its values (see the package comment): the highest of payload
// (SeverityPrivate), instructed destination, undirected destination and
// user-directed destination.
func (d *Detector) privateSeverity(hs []hit) (sev uint8, conf float64, note string) {
	first := true
	for _, h := range hs {
		var s uint8
		var c float64
		var n string
		switch {
		case !h.dest:
			s, c, n = d.opts.SeverityPrivate, 0.6, ""
		case h.instructed:
			s, c, n = d.opts.SeverityPrivateDestInstructed, 0.8, "; the destination is a private value surrounded by instruction cues in its source"
		case h.undirected:
			s, c, n = d.opts.SeverityPrivateDest, 0.5, "; the destination is a private value"
		default:
			s, c, n = d.opts.SeverityPrivateDestDirected, 0.4, "; the destination is a private value from a source the user directed the agent to"
		}
		if first || s > sev {
			sev, conf, note, first = s, c, n, false
		}
	}
	return sev, conf, note
}

// isSingleToken reports whether s, trimmed of surrounding white space, holds
// no white space: an argument string that is one value alone.
func isSingleToken(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			return false
		}
	}
	return true
}

// isAddress reports whether value v of class c is an address data or money
// can be sent to: an e-mail address, a URL or host, a phone/account number,
// or an IBAN-shaped id (ISO 13616: two letters, two check digits, 11–30
// letters or digits; v is lower-cased). Other ids (record, file, order ids)
// are what a call carries, not where it goes.
func isAddress(v string, c Class) bool {
	switch c {
	case ClassEmail, ClassURL, ClassHost, ClassNumber:
		return true
	case ClassID:
		if len(v) < 15 || len(v) > 34 || !isAlpha(v[0]) || !isAlpha(v[1]) || !isDigit(v[2]) || !isDigit(v[3]) {
			return false
		}
		for i := 4; i < len(v); i++ {
			if !isAlpha(v[i]) && !isDigit(v[i]) {
				return false
			}
		}
		return true
	}
	return false
}
