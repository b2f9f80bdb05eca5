package flow

import "github.com/tetherhq/tether/models"

// Requested reports whether the user's request of ev's session (or of its
// nearest ancestor with one) asks for the kind of action ev's tool performs
// (callFor, request.go), or for its action whatever object it names
// ("please reschedule my dental check-up" asks for
// reschedule_calendar_event: asksVerb); false when the session has no
// request. Other
// detectors read it (baseline.RequestOracle): a first use of a tool the
// user asked for is the agent's history growing as asked.
func (d *Detector) Requested(ev *models.Event) bool {
	s := d.tracked(ev.SessionID)
	if s == nil || ev.ToolName == "" {
		return false
	}
	r := d.requestOf(s)
	return r != nil && (r.req.callFor(ev.ToolName) || asksVerb(r.req.lower, ev.ToolName))
}
