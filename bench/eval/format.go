package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/tetherhq/tether/models"
)

// Label values of a SessionLabel.
const (
	// LabelMalicious marks a session in which the agent did harm (for
	// AgentDojo: the injection succeeded). These are the positives.
	LabelMalicious = "malicious"
	// LabelBenign marks a session in which the agent did no harm.
	LabelBenign = "benign"
)

// ErrBadLabel is wrapped by every error about a labels record.
var ErrBadLabel = errors.New("invalid label record")

// SessionLabel is one line of a labels JSONL file: the ground truth of one
// session of the events stream. See README.md for the format.
type SessionLabel struct {
	// SessionID is the gen_ai.conversation.id of the session's events.
	SessionID string `json:"session_id"`
	// AgentID is the session's gen_ai.agent.id (informational).
	AgentID string `json:"agent_id,omitempty"`
	// Label is LabelMalicious or LabelBenign.
	Label string `json:"label"`
	// Attacked says whether an attack was attempted on the session. When
	// omitted it defaults to Label == malicious.
	Attacked *bool `json:"attacked,omitempty"`
	// Hijacked says whether the attack succeeded. When omitted it defaults to
	// Label == malicious.
	Hijacked *bool `json:"hijacked,omitempty"`
	// HarmStep is the tether.step of the first harmful event, or nil when
	// not known or not applicable.
	HarmStep *int `json:"harm_step"`
	// Groups holds the breakdown dimensions of the session, e.g.
	// {"suite": "banking", "pipeline": "gpt-4o-2024-05-13"}.
	Groups map[string]string `json:"groups,omitempty"`
	// Extra holds dataset-specific, informational fields (ignored by eval).
	Extra map[string]any `json:"extra,omitempty"`
}

// IsAttacked reports the effective attacked flag.
func (l *SessionLabel) IsAttacked() bool {
	if l.Attacked != nil {
		return *l.Attacked
	}
	return l.Label == LabelMalicious
}

// IsHijacked reports the effective hijacked flag.
func (l *SessionLabel) IsHijacked() bool {
	if l.Hijacked != nil {
		return *l.Hijacked
	}
	return l.Label == LabelMalicious
}

// Validate checks the record's required fields and value domains.
func (l *SessionLabel) Validate() error {
	switch {
	case l.SessionID == "":
		return fmt.Errorf("%w: session_id is empty", ErrBadLabel)
	case l.Label != LabelMalicious && l.Label != LabelBenign:
		return fmt.Errorf("%w: session %s: label %q (want %q or %q)", ErrBadLabel, l.SessionID, l.Label, LabelMalicious, LabelBenign)
	case l.HarmStep != nil && *l.HarmStep < 0:
		return fmt.Errorf("%w: session %s: harm_step %d is negative", ErrBadLabel, l.SessionID, *l.HarmStep)
	case l.Label == LabelMalicious && !l.IsAttacked():
		return fmt.Errorf("%w: session %s: malicious but attacked is false", ErrBadLabel, l.SessionID)
	}
	return nil
}

// DecodeLabel parses and validates one labels line.
func DecodeLabel(b []byte) (SessionLabel, error) {
	var l SessionLabel
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return l, fmt.Errorf("%w: not a JSON object", ErrBadLabel)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("%w: %v", ErrBadLabel, err)
	}
	return l, l.Validate()
}

// maxLine bounds one JSONL line of events or labels.
const maxLine = 64 << 20

// ReadLabels reads a labels JSONL stream. Blank lines are skipped; a
// session labelled twice is an error.
func ReadLabels(r io.Reader) ([]SessionLabel, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var out []SessionLabel
	seen := make(map[string]bool)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		l, err := DecodeLabel(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("labels line %d: %w", n, err)
		}
		if seen[l.SessionID] {
			return nil, fmt.Errorf("labels line %d: %w: session %s labelled twice", n, ErrBadLabel, l.SessionID)
		}
		seen[l.SessionID] = true
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	return out, nil
}

// ReadEvents reads an events JSONL stream of models.Event records, each
// validated by models.Decoder (no size or clock-skew limits: the stream is a
// recording). Blank lines are skipped.
func ReadEvents(r io.Reader) ([]*models.Event, error) {
	dec := models.NewDecoder(models.DecodeOptions{})
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var out []*models.Event
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		ev, err := dec.Decode(sc.Bytes(), time.Time{})
		if err != nil {
			return nil, fmt.Errorf("events line %d: %w", n, err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// ReadEventsFile reads an events JSONL file.
func ReadEventsFile(path string) ([]*models.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open events: %w", err)
	}
	defer f.Close()
	evs, err := ReadEvents(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return evs, nil
}

// ReadLabelsFile reads a labels JSONL file.
func ReadLabelsFile(path string) ([]SessionLabel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open labels: %w", err)
	}
	defer f.Close()
	ls, err := ReadLabels(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ls, nil
}

// WriteLabel appends one labels line to w.
func WriteLabel(w io.Writer, l *SessionLabel) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode label %s: %w", l.SessionID, err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// groupKeys returns the sorted union of group dimension names.
func groupKeys(ls []SessionLabel) []string {
	set := map[string]bool{}
	for i := range ls {
		for k := range ls[i].Groups {
			set[k] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
