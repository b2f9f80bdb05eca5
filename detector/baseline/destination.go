package baseline

import (
	"fmt"
	"strings"

	"github.com/tetherhq/tether/detector/values"
	"github.com/tetherhq/tether/models"
)

// newDestinationSeverity is the severity of new_destination: below
// models.AlertThreshold, so a first contact with a host or mail domain is a
// deviation to record and to compound with others in its session, never an
// alert on its own (agents meet new hosts all the time).
const newDestinationSeverity = 35

// maxNewDestinationsListed bounds the destinations named in one finding.
const maxNewDestinationsListed = 3

// destSketch is an agent's bounded first-seen sketch of destinations: the
// 64-bit hashes of the hosts and mail domains it has sent to, in a ring
// that forgets the oldest first. A hash collision (p ≈ n²/2⁶⁵) can only
// hide a new destination, never invent one.
type destSketch struct {
	hashes []uint64
	next   int // ring position of the next insertion once full
}

// has reports whether h is in the sketch.
func (s *destSketch) has(h uint64) bool {
	for _, x := range s.hashes {
		if x == h {
			return true
		}
	}
	return false
}

// add inserts h, replacing the oldest entry when limit entries are held.
func (s *destSketch) add(h uint64, limit int) {
	if len(s.hashes) < limit {
		s.hashes = append(s.hashes, h)
		return
	}
	s.hashes[s.next] = h
	s.next = (s.next + 1) % limit
}

// destinations calls fn with each destination named by ev, lower-cased:
// tether.destination (its host when it is a URL, its domain when it is an
// e-mail address), and on tool calls the hosts of URLs and the domains of
// e-mail addresses in the arguments (found by values.Extract). The string may
// alias the event and must be cloned to be kept.
func destinations(ev *models.Event, fn func(string)) {
	var buf []byte
	visit := func(v string, c values.Class, _ int) {
		switch c {
		case values.Email:
			fn(v[strings.LastIndexByte(v, '@')+1:])
		case values.URL:
			fn(values.HostOf(v))
		case values.Host:
			fn(v)
		}
	}
	if ev.Destination != "" {
		n := 0
		values.Extract(ev.Destination, 0, &buf, func(v string, c values.Class, at int) {
			if c == values.Email || c == values.URL || c == values.Host {
				n++
				visit(v, c, at)
			}
		})
		if n == 0 {
			// An opaque destination (a queue, a channel name) is its own name.
			fn(strings.ToLower(strings.TrimSpace(ev.Destination)))
		}
	}
	if ev.Kind == models.KindToolCall && len(ev.Arguments) > 0 {
		values.Extract(string(ev.Arguments), 0, &buf, visit)
	}
}

// observeDestinations reports, after the agent's warm-up, destinations the
// agent has never sent to before (new_destination), and remembers every
// destination in the agent's sketch. During warm-up destinations are only
// learnt.
func (d *Detector) observeDestinations(st *agentState, ev *models.Event, emit func(models.Finding)) {
	if ev.Destination == "" && (ev.Kind != models.KindToolCall || len(ev.Arguments) == 0) {
		return
	}
	warm := d.warm(st)
	known := len(st.dests.hashes)
	var fresh []string
	var seen [8]uint64 // de-duplicates within the event
	nseen := 0
	destinations(ev, func(dst string) {
		if dst == "" {
			return
		}
		h := keyedHash(d.seed, dst)
		for _, x := range seen[:nseen] {
			if x == h {
				return
			}
		}
		if nseen < len(seen) {
			seen[nseen] = h
			nseen++
		}
		if st.dests.has(h) {
			return
		}
		st.dests.add(h, d.opts.MaxDestinationsPerAgent)
		if warm {
			fresh = append(fresh, clip(dst))
		}
	})
	if len(fresh) == 0 {
		return
	}
	listed := fresh[:min(len(fresh), maxNewDestinationsListed)]
	more := ""
	if len(fresh) > len(listed) {
		more = fmt.Sprintf(" and %d more", len(fresh)-len(listed))
	}
	what := "an event"
	if ev.ToolName != "" {
		what = fmt.Sprintf("a call of tool %q", ev.ToolName)
	}
	emit(models.Finding{
		Kind:       KindNewDestination,
		Severity:   newDestinationSeverity,
		Confidence: float64(known) / float64(known+1),
		Explanation: fmt.Sprintf("agent %q sent to destination(s) it has never used before: %s%s (in %s; it knows %d destinations). A first contact is common and not an alert on its own, but together with other deviations of the session it may be exfiltration or a hijacked recipient",
			ev.AgentID, strings.Join(listed, ", "), more, what, known),
		Features: []models.Feature{
			{Name: "new_destinations", Observed: float64(len(fresh))},
			{Name: "known_destinations", Observed: float64(known)},
		},
	})
}
