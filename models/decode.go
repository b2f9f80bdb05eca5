package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned (wrapped) by Decoder.Decode and the inventory loader.
// The dead-letter topic records the sentinel's text as the reason class.
var (
	// ErrMalformed: the record is not a JSON object of the event shape.
	ErrMalformed = errors.New("malformed event")
	// ErrUnsupportedVersion: schema_version is missing or not understood.
	ErrUnsupportedVersion = errors.New("unsupported schema version")
	// ErrMissingField: a required field is empty.
	ErrMissingField = errors.New("missing required field")
	// ErrUnknownKind: kind is not one of Kinds.
	ErrUnknownKind = errors.New("unknown event kind")
	// ErrOversized: the record exceeds the configured size limit.
	ErrOversized = errors.New("oversized record")
	// ErrClockSkew: the event time is too far from the broker time.
	ErrClockSkew = errors.New("clock-skewed timestamp")
	// ErrInvalid: a field has a value outside its domain.
	ErrInvalid = errors.New("invalid field value")
)

// DecodeOptions bounds what Decoder accepts.
type DecodeOptions struct {
	// MaxBytes is the largest record accepted; 0 means no limit.
	MaxBytes int
	// MaxFutureSkew is how far an event time may lie after the reference
	// time (the record's broker timestamp); 0 disables the check.
	MaxFutureSkew time.Duration
	// MaxPastSkew is how far an event time may lie before the reference
	// time; 0 disables the check.
	MaxPastSkew time.Duration
}

// DefaultDecodeOptions returns the limits used by the daemon: 1 MiB records,
// events at most 5 minutes in the future and 7 days in the past of the
// broker timestamp.
func DefaultDecodeOptions() DecodeOptions {
	return DecodeOptions{MaxBytes: 1 << 20, MaxFutureSkew: 5 * time.Minute, MaxPastSkew: 7 * 24 * time.Hour}
}

// Decoder turns record bytes into validated events. It is safe for
// concurrent use.
type Decoder struct {
	opts DecodeOptions
	in   interner // repeated id values (see interner)
}

// NewDecoder returns a Decoder with the given limits.
func NewDecoder(opts DecodeOptions) *Decoder { return &Decoder{opts: opts} }

// Decode parses and validates one record. ref is the reference time for the
// clock-skew check (normally the record's broker timestamp; the zero time
// skips the check). The returned event does not alias b.
func (d *Decoder) Decode(b []byte, ref time.Time) (*Event, error) {
	if d.opts.MaxBytes > 0 && len(b) > d.opts.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds limit of %d", ErrOversized, len(b), d.opts.MaxBytes)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	// One allocation holds the event and its two optional times.
	box := new(struct {
		ev    Event
		times [2]time.Time
	})
	ev := &box.ev
	// The fast path takes the records producers emit; it defers anything
	// else (errors included) to json.Unmarshal, whose result it matches.
	ok, known := decodeEventFast(b, ev, &d.in, &box.times)
	if !ok {
		known = knownValid{}
		// Hostile input is refused here, before encoding/json would
		// normalise it away (see scanRecord).
		if err := scanRecord(b); err != nil {
			return nil, err
		}
		*ev = Event{}
		if err := json.Unmarshal(b, ev); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	// Both paths have already checked the whole record, arguments
	// included: skip the second scan.
	if err := d.validate(ev, ref, false, known); err != nil {
		return nil, err
	}
	return ev, nil
}

// Validate checks an event's required fields and value domains and fills
// derived fields (Operation, RootAgentID). It is called by Decode and may be
// called on events built in code.
func (d *Decoder) Validate(ev *Event, ref time.Time) error {
	return d.validate(ev, ref, true, knownValid{})
}

// validate checks ev; checkArgs is false for an event Decode produced,
// whose arguments and text encoding the decoder has checked already, and
// known marks the fields it found valid ids or names.
func (d *Decoder) validate(ev *Event, ref time.Time, checkArgs bool, known knownValid) error {
	if ev.SchemaVersion != SchemaVersion {
		return fmt.Errorf("%w: schema_version %d (this build reads %d)", ErrUnsupportedVersion, ev.SchemaVersion, SchemaVersion)
	}
	// Ids first: later messages quote them, so they must be bounded.
	if err := checkFields(ev, !checkArgs, known); err != nil {
		return err
	}
	switch {
	case ev.ID == "":
		return fmt.Errorf("%w: event_id", ErrMissingField)
	case ev.Kind == "":
		return fmt.Errorf("%w: kind (event %s)", ErrMissingField, ev.ID)
	case !ev.Kind.Valid():
		return fmt.Errorf("%w: %q (event %s)", ErrUnknownKind, clip(string(ev.Kind), 64), ev.ID)
	case ev.AgentID == "":
		return fmt.Errorf("%w: gen_ai.agent.id (event %s)", ErrMissingField, ev.ID)
	case ev.SessionID == "":
		return fmt.Errorf("%w: gen_ai.conversation.id (event %s, agent %s)", ErrMissingField, ev.ID, ev.AgentID)
	case ev.Time.IsZero():
		return fmt.Errorf("%w: time (event %s, agent %s)", ErrMissingField, ev.ID, ev.AgentID)
	case (ev.Kind == KindToolCall || ev.Kind == KindToolResult) && ev.ToolName == "":
		return fmt.Errorf("%w: gen_ai.tool.name on %s (event %s, agent %s)", ErrMissingField, ev.Kind, ev.ID, ev.AgentID)
	case ev.Step < 0:
		return fmt.Errorf("%w: tether.step %d is negative (event %s)", ErrInvalid, ev.Step, ev.ID)
	case ev.Bytes < 0:
		return fmt.Errorf("%w: tether.bytes %d is negative (event %s)", ErrInvalid, ev.Bytes, ev.ID)
	}
	if _, err := ParseAutonomy(string(ev.Autonomy)); err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if checkArgs && len(ev.Arguments) > 0 {
		if !json.Valid(ev.Arguments) {
			return fmt.Errorf("%w: gen_ai.tool.call.arguments is not valid JSON (event %s)", ErrMalformed, ev.ID)
		}
		var why string
		if _, ok := skipValue(ev.Arguments, skipWS(ev.Arguments, 0), 2, &why); !ok {
			return fmt.Errorf("%w: gen_ai.tool.call.arguments: %s (event %s)", ErrMalformed, why, ev.ID)
		}
	}
	if !ref.IsZero() {
		if d.opts.MaxFutureSkew > 0 && ev.Time.Sub(ref) > d.opts.MaxFutureSkew {
			return fmt.Errorf("%w: event time %s is %s ahead of broker time %s (limit %s, event %s)",
				ErrClockSkew, ev.Time.Format(time.RFC3339Nano), ev.Time.Sub(ref).Round(time.Second), ref.Format(time.RFC3339Nano), d.opts.MaxFutureSkew, ev.ID)
		}
		if d.opts.MaxPastSkew > 0 && ref.Sub(ev.Time) > d.opts.MaxPastSkew {
			return fmt.Errorf("%w: event time %s is %s behind broker time %s (limit %s, event %s)",
				ErrClockSkew, ev.Time.Format(time.RFC3339Nano), ref.Sub(ev.Time).Round(time.Second), ref.Format(time.RFC3339Nano), d.opts.MaxPastSkew, ev.ID)
		}
	}
	if ev.Operation == "" {
		ev.Operation = ev.Kind.Operation()
	}
	if ev.RootAgentID == "" {
		ev.RootAgentID = ev.AgentID
	}
	return nil
}

// ReasonClass maps a decode error to its short class name for metrics and
// dead-letter headers ("malformed", "unsupported_version", …, "other").
func ReasonClass(err error) string {
	switch {
	case errors.Is(err, ErrOversized):
		return "oversized"
	case errors.Is(err, ErrUnsupportedVersion):
		return "unsupported_version"
	case errors.Is(err, ErrMissingField):
		return "missing_field"
	case errors.Is(err, ErrUnknownKind):
		return "unknown_kind"
	case errors.Is(err, ErrClockSkew):
		return "clock_skew"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return "other"
}
