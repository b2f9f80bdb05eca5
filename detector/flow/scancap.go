package flow

import (
	"strconv"

	"github.com/tetherhq/tether/models"
)

// The scan cap. Flow's cost is linear in the text it reads (one pass for
// values, one for instruction cues, a bounded window around each value),
// and Options.MaxScanBytes (default 256 KiB) bounds how much of one tool
// result, message or argument string it reads at all: a larger text is
// judged on its first MaxScanBytes bytes. Padding a payload past the cap
// would hide what follows, so the truncation itself is reported.

// KindScanTruncated: a tool result, a trusted message or an argument string
// is longer than Options.MaxScanBytes; only its first MaxScanBytes bytes
// were scanned for values and instruction cues.
const KindScanTruncated = "scan_truncated"

// SeverityScanTruncated is the severity of KindScanTruncated: evidence for
// an analyst (large documents are legitimate), not an incident; the
// ruleset can raise it (rule TTH-flow-scan_truncated).
const SeverityScanTruncated = 30

// noteTruncated emits KindScanTruncated when a text of ev (in session s)
// that flow scans exceeds the cap.
func (d *Detector) noteTruncated(s *session, ev *models.Event, emit func(models.Finding)) {
	limit := d.opts.MaxScanBytes
	if limit <= 0 {
		return
	}
	what, size := "", 0
	switch ev.Kind {
	case models.KindToolResult:
		if len(ev.Result) > limit {
			what, size = "the result of "+ev.ToolName, len(ev.Result)
		}
	case models.KindSessionStart, models.KindMessage:
		// the texts trust reads: user and system input of a root session
		scanned := ev.Kind == models.KindSessionStart || ev.Role == models.RoleUser || ev.Role == models.RoleSystem || ev.Role == ""
		if scanned && !s.child && len(ev.Content) > limit {
			what, size = "the message", len(ev.Content)
		}
	case models.KindToolCall:
		if len(ev.Arguments) <= limit {
			return // no string inside is longer
		}
		leaves, _ := d.args(ev)
		for _, l := range leaves {
			if len(l.text) > limit && len(l.text) > size {
				what, size = "argument "+strconv.Quote(l.path)+" of "+ev.ToolName, len(l.text)
			}
		}
	}
	if size == 0 {
		return
	}
	b := append(d.expl[:0], what...)
	b = append(b, " is "...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, " bytes: only the first "...)
	b = strconv.AppendInt(b, int64(limit), 10)
	b = append(b, " were scanned for values and instruction cues"...)
	d.expl = b
	emit(models.Finding{
		Kind:        KindScanTruncated,
		Severity:    SeverityScanTruncated,
		Confidence:  1,
		Explanation: string(b),
		EvidenceIDs: []string{ev.ID},
		Features: []models.Feature{
			{Name: "bytes", Observed: float64(size)},
			{Name: "scanned_bytes", Observed: float64(limit)},
		},
	})
}
