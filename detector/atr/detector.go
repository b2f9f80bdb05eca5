package atr

import (
	"strings"

	"github.com/tetherhq/tether/models"
)

// Name is the detector's name.
const Name = "atr"

// Detector evaluates loaded ATR rules on every event's mapped fields. It
// keeps no state.
type Detector struct {
	rules   []*Rule
	sev     map[string]uint8
	maxScan int
}

// severities maps ATR severities onto Tether's scale (set once).
var severities = map[string]uint8{"critical": 80, "high": 70, "medium": 50, "low": 30, "informational": 10, "info": 10}

// New returns a detector over rules; text beyond maxScan bytes of a field
// is not read (0: 64 KiB).
func New(rules []*Rule, maxScan int) *Detector {
	if maxScan <= 0 {
		maxScan = 64 << 10
	}
	return &Detector{rules: rules, maxScan: maxScan}
}

// Name returns "atr".
func (d *Detector) Name() string { return Name }

// MarshalState returns an empty state: the detector is stateless.
func (d *Detector) MarshalState() ([]byte, error) { return []byte{}, nil }

// UnmarshalState accepts only the empty state.
func (d *Detector) UnmarshalState(b []byte) error {
	if len(b) != 0 {
		return ErrATR
	}
	return nil
}

// OptionalState: snapshots taken without the detector restore it.
func (d *Detector) OptionalState() {}

// Observe evaluates every rule on ev.
func (d *Detector) Observe(ev *models.Event, _ *models.AgentSpec, emit func(models.Finding)) {
	var field, text string
	switch ev.Kind {
	case models.KindMessage:
		if ev.Role == "" || ev.Role == "user" {
			field, text = FieldUserInput, ev.Content
		} else if ev.Role == "assistant" {
			field, text = FieldAgentOutput, ev.Content
		}
	case models.KindReasoning:
		field, text = FieldAgentOutput, ev.Content
	case models.KindToolResult:
		field, text = FieldToolResponse, ev.Result
	case models.KindToolCall:
		field, text = FieldToolArgs, string(ev.Arguments)
	}
	if field == "" || text == "" {
		return
	}
	if len(text) > d.maxScan {
		text = text[:d.maxScan]
	}
	get := func(f string) (string, bool) {
		switch f {
		case field, FieldContent:
			return text, true
		case FieldToolName:
			return ev.ToolName, ev.Kind == models.KindToolCall
		}
		return "", false
	}
	var fc folded
	for _, r := range d.rules {
		if r.match(get, &fc) {
			sev, ok := severities[strings.ToLower(r.Severity)]
			if !ok {
				sev = 50
			}
			emit(models.Finding{Kind: r.ID, Subject: r.ID, Severity: sev, Confidence: 0.6,
				Explanation: "ATR " + r.ID + " (" + r.Title + ") matched the " + field})
		}
	}
}
