// Package identity answers the Agentic Trust Framework's first question,
// "Who are you?", from the event stream: agents that act without being
// registered in the inventory.
package identity

import (
	"fmt"

	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "identity"

// Finding kinds.
const (
	KindUnregistered = "unregistered_agent"
)

// Options configures the identity detector.
type Options struct {
	// MaxTracked bounds the set of unregistered agents remembered, so a flood
	// of random agent ids cannot grow memory without limit. When full, the set
	// is cleared and agents are reported again.
	MaxTracked int
}

// DefaultOptions returns the production settings.
func DefaultOptions() Options { return Options{MaxTracked: 100_000} }

// Detector reports each unregistered agent once (per tracking window).
type Detector struct {
	opts Options
	seen map[string]struct{}
}

// New returns a Detector.
func New(opts Options) *Detector {
	return &Detector{opts: opts, seen: make(map[string]struct{})}
}

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if agent != nil {
		return
	}
	if _, ok := d.seen[ev.AgentID]; ok {
		return
	}
	if len(d.seen) >= d.opts.MaxTracked {
		clear(d.seen)
	}
	d.seen[ev.AgentID] = struct{}{}
	emit(models.Finding{
		Kind:       KindUnregistered,
		Severity:   models.SeverityMedium,
		Confidence: 1,
		Explanation: fmt.Sprintf("agent %q is not in the inventory: it has no declared owner, purpose or capability manifest (first seen on %s event %s, principal %q)",
			ev.AgentID, ev.Kind, ev.ID, ev.Principal),
	})
}
