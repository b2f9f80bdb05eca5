package flow

// Call judgement: the provenance of a tool call's consequential values and
// the severity of the flow it makes.

import (
	"strconv"
	"strings"

	"github.com/tetherhq/tether/detector/values"
	"github.com/tetherhq/tether/models"
)

// hit is one tainted or unexplained value found in a sink call's arguments.
type hit struct {
	kind                   string
	arg                    string
	value                  string
	class                  values.Class
	src                    source
	instructed, undirected bool
	// unnamed: some occurrence came from a call that named nothing of the
	// user's own words (values.go entry.unnamed): delegation does not
	// reach it.
	unnamed bool
	// namedPage: some occurrence was on a page fetched from a location the
	// user's own words name (values.go entry.namedPage).
	namedPage bool
	// dest: the value is the call's destination (a whole argument string of
	// an address class), not a payload it carries.
	dest bool
	// cues: the instruction-cue categories near the value (instructed_call).
	cues cueCat
	// pointed: the request describes the record the value sat in
	// (request.go), or the user pointed at the value's source (the call
	// that read it named a user-supplied value) and the value, as the
	// call's destination, was not planted there (attempt.go).
	pointed bool
	// planted: the value is the call's destination (or fetched location)
	// and was planted in its source (attempt.go).
	planted bool
	// counterparty: the value is the whole argument (the call's
	// destination itself, not one of several values packed into a
	// payload) and a field value of the user's own records (values.go
	// entry.counterparty).
	counterparty bool
	// anomalous: the value sat in an out-of-shape part of its result
	// (outputs.go).
	anomalous bool
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
	if d.opts.Unrequested && (destructive || acts(ev.ToolName, tool)) {
		// after the call's flow findings: an action (a destructive call,
		// or one that changes state: see acts) the request does not ask
		// for, with values the user did not supply
		top := 0
		inner := emit
		emit = func(f models.Finding) { top = max(top, int(f.Severity)); inner(f) }
		defer func() { d.unrequested(s, ev, tool, destructive, top, inner) }()
	}
	// instructed_call judges every call, but only sessions (or ancestors)
	// holding an instructed value can produce one.
	instr, outsider := false, false
	d.chain(s, func(a *session) bool {
		instr = instr || (d.opts.InstructedCall && a.hasInstructed)
		outsider = outsider || a.hasOutsider
		return !(instr && outsider)
	})
	fetch := d.opts.Fetch && outsider && !sink && !destructive
	if !sink && !destructive && !instr && !fetch {
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
		d.scan(l.text, func(v string, c values.Class) {
			if _, dup := seenVal[v]; dup {
				return
			}
			e, seen, trusted := d.lookup(s, v)
			if trusted {
				trustedDest = trustedDest || c.RecipientLike()
				return
			}
			seenVal[v] = struct{}{}
			// A reading call is judged on the locations it reaches (an
			// address); a file or record it opens by name reads the
			// user's own store, and what the agent then does with the
			// content is judged at that call.
			if instr && e.instructed && e.flags&(fromUntrusted|fromPrivate) != 0 && (sink || destructive || isAddress(v, c)) && !d.wasReported(s, ev.ToolName, v) {
				d.ihits = append(d.ihits, hit{kind: KindInstructedCall, arg: path, value: v, class: c, src: e.instr,
					instructed: true, undirected: e.instrUndirected, unnamed: e.unnamed, cues: e.cues, pointed: e.described})
			}
			if !sink && !destructive {
				// a reading (or any other) call whose whole argument is a
				// location only outsider content supplied, or a planted
				// address (searching the mailbox for an address a note
				// dropped in a file)
				if fetch && whole && (c == values.URL || c == values.Host || (e.planted && isAddress(v, c))) && e.flags&(fromUntrusted|fromPrivate) != 0 {
					d.hits = append(d.hits, hit{kind: KindUntrustedFetch, arg: path, value: v, class: c, src: e.seen, instructed: e.instructed,
						undirected: (e.flags&fromUntrusted != 0 && e.undirected) || (e.flags&fromPrivate != 0 && e.privUndirected),
						pointed:    e.described, planted: e.planted, unnamed: e.unnamed, namedPage: e.namedPage})
				}
				return
			}
			switch {
			case e.flags&fromUntrusted != 0:
				d.hits = append(d.hits, hit{kind: KindUntrustedToSink, arg: path, value: v, class: c, src: e.untrusted, instructed: e.instructed, undirected: e.undirected, unnamed: e.unnamed, pointed: e.described || (!e.undirected && !(e.planted && whole && isAddress(v, c))),
					planted: e.planted && whole && isAddress(v, c)})
			case e.flags&fromPrivate != 0 && sink:
				d.hits = append(d.hits, hit{kind: KindPrivateToSink, arg: path, value: v, class: c, src: e.private, instructed: e.instructed, undirected: e.privUndirected, unnamed: e.unnamed, dest: whole && isAddress(v, c), pointed: e.described || (!e.privUndirected && !(e.planted && whole && isAddress(v, c))),
					planted: e.planted && whole && isAddress(v, c), counterparty: e.counterparty && isAddress(v, c) && strings.EqualFold(strings.TrimSpace(l.text), v)})
			case !seen && context && c.RecipientLike() && !d.inUserText(s, v) && !d.recombined(s, v, c):
				d.hits = append(d.hits, hit{kind: KindUnexplainedDestination, arg: path, value: v, class: c})
			}
		})
	}
	clear(seenVal)
	d.markAnomalous(s)
	if len(d.hits) == 0 && len(d.ihits) == 0 {
		return
	}
	// The sink findings of the call; the strongest flow finding
	// (untrusted_to_sink or private_to_sink) competes with instructed_call.
	var (
		fs       [4]models.Finding
		n        int
		flowSev  = -1
		designed bool
	)
	if len(d.hits) > 0 {
		labels := labelNames(tool)
		var req *requestIndex
		if r := d.requestOf(s); r != nil {
			req = &r.req
		}
		auth := authority{called: true} // no request seen: no basis to judge
		if req != nil {
			auth = authority{called: req.callFor(ev.ToolName), delegated: req.delegated, location: req.location, links: req.links}
			// a request that hands the choice of actions to content the
			// user names asks for whatever that content asks for
			auth.called = auth.called || auth.delegated
			auth.strayAmount = sink && d.strayAmount(s, req, leaves)
		}
		for _, kind := range [...]string{KindUntrustedToSink, KindPrivateToSink, KindUntrustedFetch, KindUnexplainedDestination} {
			d.hs = d.hs[:0]
			for _, h := range d.hits {
				if h.kind != kind {
					continue
				}
				if kind == KindUntrustedFetch && (auth.fetchAuthorised(&h) || h.instructed || d.wasReported(s, ev.ToolName, h.value)) {
					continue // asked for, described, or left to instructed_call
				}
				d.hs = append(d.hs, h)
			}
			if len(d.hs) == 0 {
				continue
			}
			if kind == KindUntrustedFetch {
				for _, h := range d.hs {
					d.markReported(s, ev.ToolName, h.value)
				}
			}
			f, des := d.finding(kind, d.hs, ev, agent, destructive, trustedDest, labels, auth)
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
		delegated := false
		if r := d.requestOf(s); r != nil {
			delegated = r.req.delegated
		}
		f := d.instructedFinding(d.ihits, ev, delegated)
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

// inUserText reports whether v occurs at word boundaries in the user and
// system text of s (or its nearest ancestor with text): a value the
// extractor read as part of a longer token there ("www.a.example.They",
// a missing space after a full stop) is still the user's.
func (d *Detector) inUserText(s *session, v string) bool {
	var text []byte
	d.chain(s, func(a *session) bool { text = a.text; return len(text) == 0 })
	return len(v) <= 64 && containsWordFold(text, v)
}

// recombined reports whether e-mail address v (class c) is made of parts
// the session already holds: the local part of one address it read or the
// user gave, and the domain of another (or a host). An agent that fixes
// "mark.roberts@luesparrowtech.com" to the domain of its colleagues'
// addresses, or completes a contact's address with the team's domain, sends
// to an address its data explains, not one from nowhere. Only the rare
// unexplained address pays for the scan of the session's values.
func (d *Detector) recombined(s *session, v string, c values.Class) bool {
	at := strings.LastIndexByte(v, '@')
	if c != values.Email || at <= 0 {
		return false
	}
	local, domain := v[:at], v[at+1:]
	localSeen, domainSeen := false, false
	check := func(k string) {
		if i := strings.LastIndexByte(k, '@'); i > 0 {
			localSeen = localSeen || k[:i] == local
			domainSeen = domainSeen || k[i+1:] == domain
			return
		}
		domainSeen = domainSeen || k == domain
	}
	d.chain(s, func(a *session) bool {
		for _, k := range a.values.keys {
			check(k)
		}
		for _, k := range a.trusted.keys {
			check(k)
		}
		return !(localSeen && domainSeen)
	})
	return localSeen && domainSeen
}

// acts reports whether a tool changes state rather than reads: its name
// opens with a verb that is not a reading one ("create_calendar_event",
// "reserve_car") and its labels make it neither a source of content
// (private_data, untrusted_content) nor a public_sink, whose flows the
// sink judgement grades. A tool without a name verb does not act.
func acts(name string, tool *models.ToolSpec) bool {
	if tool != nil && (tool.Has(models.LabelPrivateData) || tool.Has(models.LabelUntrustedContent) || tool.Has(models.LabelPublicSink)) {
		return false
	}
	verb := ""
	toolWords(name, func(w string) {
		if verb == "" {
			verb = w
		}
	})
	return verb != "" && !readVerbs[verb] && !genericToolWords[verb]
}

// unrequested emits unrequested_action for a destructive or acting call (see
// Options.Unrequested) unless the call already raised a finding at least
// as strong. Reported once per session per tool.
func (d *Detector) unrequested(s *session, ev *models.Event, tool *models.ToolSpec, destructive bool, top int, emit func(models.Finding)) {
	if top >= int(d.opts.SeverityUnrequested) {
		return
	}
	r := d.requestOf(s)
	if r == nil || r.req.delegated {
		return
	}
	// asked: the request asks for this action; it is then judged on its
	// days only (dates.go): the action asked for, on days the request does
	// not name when it names some, is not what was asked
	asked := r.req.callFor(ev.ToolName) || asksVerb(r.req.lower, ev.ToolName)
	// a destructive call after outsider-written content that spoke to the
	// agent or left a tracked value (values of private stores included);
	// a call that only acts, after untrusted content that carried an
	// injection mark (readMarked); either, after untrusted content with
	// words whatever their wording, with an argument that repeats them
	// (heard.go)
	outsider, untrusted, marked := false, false, false
	d.chain(s, func(a *session) bool {
		outsider = outsider || a.hasOutsider
		untrusted = untrusted || a.readUntrusted
		marked = marked || a.readMarked
		return true
	})
	if !(destructive && (outsider || untrusted)) && !marked && !untrusted {
		return
	}
	// worded: after untrusted content that neither spoke to the agent nor
	// carried a mark, only an argument that repeats the content's words
	// makes the call outsider-driven (heard.go)
	worded := !marked && !(destructive && outsider)
	leaves, ok := d.args(ev)
	if !ok {
		return
	}
	var text []byte
	d.chain(s, func(a *session) bool { text = a.text; return len(text) == 0 })
	unsupplied := ""
	if asked {
		unsupplied = foreignDay(r.req.lower, leaves)
	} else {
		for _, l := range leaves {
			v := strings.TrimSpace(l.text)
			if v != "" && len(v) <= 64 && !containsWordFold(text, v) && (!worded || d.heardIn(s, v)) {
				unsupplied = l.path
				break
			}
		}
	}
	if unsupplied == "" || d.wasReported(s, ev.ToolName, "\x01unrequested") {
		return
	}
	d.markReported(s, ev.ToolName, "\x01unrequested")
	b := d.expl[:0]
	b = append(b, ev.ToolName...)
	b = append(b, " call "...)
	b = append(b, ev.ID...)
	b = append(b, " ("...)
	if l := labelNames(tool); l != "" {
		b = append(b, l...)
	} else {
		b = append(b, "changes state"...)
	}
	if asked {
		b = append(b, ") is the action the user's request asks for, but on a day in argument "...)
		b = strconv.AppendQuote(b, unsupplied)
		b = append(b, " that the request, which names its days, does not name, in a session that read outsider-written content"...)
	} else {
		b = append(b, ") is an action the user's request does not ask for, with argument "...)
		b = strconv.AppendQuote(b, unsupplied)
		b = append(b, " not supplied by the user, in a session that read outsider-written content"...)
	}
	d.expl = b
	emit(models.Finding{
		Kind:        KindUnrequestedAction,
		Severity:    d.opts.SeverityUnrequested,
		Confidence:  0.5,
		Explanation: string(b),
		EvidenceIDs: []string{ev.ID},
		Features:    []models.Feature{{Name: "unrequested_actions", Observed: 1}},
	})
}

// authority is what the user's request says about a call (request.go):
// called, it asks for this kind of action; delegated, it hands the choice of
// actions to content the user names.
// location: the request names a URL or host itself; links: it speaks of
// several web locations ("all the websites posted").
//
// strayAmount: the call carries an amount (an argument whose key names an
// amount) that neither the request nor a result of a call directed at
// something the user named holds (amountSupported). Pointing at a source
// ("pay the bill in bill.txt") authorises paying what that source bills,
// not an amount from elsewhere: a payment whose amount no pointed-at
// source or request names is not accounted for by pointing (unless the
// destination is a counterparty of the user's own records: "send Spotify
// the difference" computes its amount).
type authority struct{ called, delegated, location, links, strayAmount bool }

// authorised reports whether a value with the given provenance may drive
// the call: the request asks for the action and the user pointed at the
// value's source or described its record, or the request delegates to a
// source the user named.
func (a authority) authorised(h *hit) bool {
	return (a.called && h.pointed && !(a.strayAmount && !h.counterparty)) || (a.delegated && h.delegable())
}

// delegable reports whether a delegating request reaches the value: every
// occurrence came from a source the user's own words named.
func (h *hit) delegable() bool { return !h.undirected && !h.unnamed }

// fetchAuthorised reports whether the request accounts for fetching the
// location of h: it asks for this kind of reading without naming the
// location itself and the location was not planted ("summarise the
// article Bob posted" asks for Bob's link, not for a link planted in the
// article; a request that names www.a.example asks for that page, not for
// the links on it), it speaks of several web locations ("all the websites
// posted"), it describes
// the record the location sat in, or it delegates to a source the user
// named.
func (a authority) fetchAuthorised(h *hit) bool {
	if a.called && a.links && !(h.planted && (h.undirected || h.namedPage)) {
		// "all the websites posted" asks for the links of the source the
		// user named, not for a link planted in a page reached through
		// them (read by a call that named nothing the user named), nor
		// for one planted in a page the request names itself ("visit the
		// websites of Dora (www.a.example) and Eve (www.b.example)" asks
		// to read those pages, not the links dropped into them)
		return true
	}
	return (a.called && !a.location && !h.planted) || h.pointed || (a.delegated && h.delegable())
}

// strayAmount reports whether some amount argument of a call (a leaf whose
// key path names an amount) is held neither by the request nor by a result
// of a call directed at something the user named (session.amounts, in s or
// an ancestor).
func (d *Detector) strayAmount(s *session, req *requestIndex, leaves []leaf) bool {
	for _, l := range leaves {
		if !isAmountKey(l.path) {
			continue
		}
		a, ok := normAmount(l.text)
		if !ok {
			continue
		}
		if _, ok := req.amounts[a]; ok {
			continue
		}
		found := false
		d.chain(s, func(x *session) bool {
			_, found = x.amounts.get(a)
			return !found
		})
		if !found {
			return true
		}
	}
	return false
}

// isAmountKey reports whether an argument's key path names an amount
// ("amount", "total_amount", "payment.Amount").
func isAmountKey(path string) bool {
	for i := 0; i+6 <= len(path); i++ {
		if (path[i]|0x20) == 'a' && strings.EqualFold(path[i:i+6], "amount") {
			return true
		}
	}
	return false
}

// normAmount normalises a number argument as eachAmount normalises the
// amounts of text: digits with at most one decimal point, trailing decimal
// zeros and a trailing point dropped ("1000.0" → "1000", "98.70" → "98.7").
func normAmount(s string) (string, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"'`)
	dots := 0
	for i := 0; i < len(s); i++ {
		switch {
		case isDigit(s[i]):
		case s[i] == '.' && dots == 0 && i > 0:
			dots++
		default:
			return "", false
		}
	}
	if s == "" || s[len(s)-1] == '.' {
		return "", false
	}
	if dots == 1 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s, true
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

// privateSeverity grades a private_to_sink finding by the position,
// sources and authority of its values (see the package comment): the
// highest over the values.
func (d *Detector) privateSeverity(hs []hit, auth authority) (sev uint8, conf float64, note string) {
	first := true
	for i := range hs {
		h := &hs[i]
		var s uint8
		var c float64
		var n string
		switch {
		case h.dest && h.instructed:
			s, c, n = d.opts.SeverityPrivateDestInstructed, 0.8, "; the destination is a private value surrounded by instruction cues in its source"
		case !auth.called && !(auth.delegated && h.delegable()):
			if h.dest {
				s, c, n = d.opts.SeverityPrivateDestUncalled, 0.7, "; the destination is a private value and the user's request does not ask for this action"
			} else {
				s, c, n = d.opts.SeverityPrivateUncalled, 0.7, "; the user's request does not ask for this action"
			}
		case auth.authorised(h):
			s, c, n = d.opts.SeverityAuthorised, 0.4, "; the user asked for the action and pointed at the source"
			if !auth.called {
				s, n = d.opts.SeverityPrivateDestDirected, "; the request delegates to the source the user named"
			}
		case !h.dest:
			s, c, n = d.opts.SeverityPrivate, 0.6, ""
		case h.counterparty && auth.called && !h.planted:
			// the user asks for this action and the destination is one of
			// their own counterparties ("pay the bill, like last month"
			// paying the recipient of last month's transaction): the user
			// acting on their own records
			s, c, n = d.opts.SeverityPrivateDestDirected, 0.5, "; the destination is a counterparty in a field of the user's own records and the user's request asks for this action"
		default:
			s, c, n = d.opts.SeverityPrivateDest, 0.5, "; the destination is a private value"
		}
		if h.planted && !auth.authorised(h) && s < d.opts.SeverityPlanted {
			s, c, n = d.opts.SeverityPlanted, 0.7, "; the destination was planted in its source: a new address in free text of a record the request does not describe"
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
// or an IBAN-shaped id (values.IsIBAN). Other ids (record, file, order ids)
// are what a call carries, not where it goes.
func isAddress(v string, c values.Class) bool {
	switch c {
	case values.Email, values.URL, values.Host, values.Number:
		return true
	case values.ID:
		return values.IsIBAN(v)
	}
	return false
}
