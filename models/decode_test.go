package models_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

var ref = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// record returns a valid event record with fields overridden (a nil value
// deletes the key).
func record(t testing.TB, override map[string]any) []byte {
	m := map[string]any{
		"schema_version":             1,
		"event_id":                   "e1",
		"kind":                       "tool_call",
		"time":                       ref.Format(time.RFC3339Nano),
		"gen_ai.agent.id":            "agent-1",
		"gen_ai.conversation.id":     "sess-1",
		"gen_ai.tool.name":           "search",
		"gen_ai.tool.call.arguments": map[string]any{"q": "x"},
		"tether.step":                3,
		"tether.autonomy_level":      "Junior",
	}
	for k, v := range override {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeValid(t *testing.T) {
	d := models.NewDecoder(models.DefaultDecodeOptions())
	ev, err := d.Decode(record(t, nil), ref)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ field, got, want string }{
		{"operation", ev.Operation, "execute_tool"},
		{"root agent", ev.RootAgentID, "agent-1"},
		{"autonomy", string(ev.Autonomy), "Junior"},
		{"arguments", string(ev.Arguments), `{"q":"x"}`},
		{"key", string(ev.Key()), "agent-1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.field, tt.got, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	opts := models.DefaultDecodeOptions()
	opts.MaxBytes = 4096
	d := models.NewDecoder(opts)
	tests := []struct {
		name  string
		rec   []byte
		want  error
		class string
	}{
		{"empty", []byte("  "), models.ErrMalformed, "malformed"},
		{"not an object", []byte(`[1,2]`), models.ErrMalformed, "malformed"},
		{"truncated JSON", record(t, nil)[:40], models.ErrMalformed, "malformed"},
		{"wrong field type", record(t, map[string]any{"tether.step": "three"}), models.ErrMalformed, "malformed"},
		{"bad time", record(t, map[string]any{"time": "yesterday"}), models.ErrMalformed, "malformed"},
		{"missing schema version", record(t, map[string]any{"schema_version": nil}), models.ErrUnsupportedVersion, "unsupported_version"},
		{"future schema version", record(t, map[string]any{"schema_version": 2}), models.ErrUnsupportedVersion, "unsupported_version"},
		{"missing event id", record(t, map[string]any{"event_id": ""}), models.ErrMissingField, "missing_field"},
		{"missing agent id", record(t, map[string]any{"gen_ai.agent.id": nil}), models.ErrMissingField, "missing_field"},
		{"missing session", record(t, map[string]any{"gen_ai.conversation.id": ""}), models.ErrMissingField, "missing_field"},
		{"missing kind", record(t, map[string]any{"kind": nil}), models.ErrMissingField, "missing_field"},
		{"missing time", record(t, map[string]any{"time": nil}), models.ErrMissingField, "missing_field"},
		{"tool call without tool", record(t, map[string]any{"gen_ai.tool.name": nil}), models.ErrMissingField, "missing_field"},
		{"unknown kind", record(t, map[string]any{"kind": "teleport"}), models.ErrUnknownKind, "unknown_kind"},
		{"oversized", record(t, map[string]any{"tether.content": strings.Repeat("x", 5000)}), models.ErrOversized, "oversized"},
		{"clock skew ahead", record(t, map[string]any{"time": ref.Add(6 * time.Minute).Format(time.RFC3339)}), models.ErrClockSkew, "clock_skew"},
		{"clock skew behind", record(t, map[string]any{"time": ref.Add(-8 * 24 * time.Hour).Format(time.RFC3339)}), models.ErrClockSkew, "clock_skew"},
		{"invalid arguments JSON", []byte(`{"schema_version":1,"event_id":"e","kind":"tool_call","time":"2026-05-01T12:00:00Z","gen_ai.agent.id":"a","gen_ai.conversation.id":"s","gen_ai.tool.name":"t","gen_ai.tool.call.arguments":{"q":}}`), models.ErrMalformed, "malformed"},
		{"bad autonomy", record(t, map[string]any{"tether.autonomy_level": "overlord"}), models.ErrInvalid, "invalid"},
		{"negative step", record(t, map[string]any{"tether.step": -1}), models.ErrInvalid, "invalid"},
		{"negative bytes", record(t, map[string]any{"tether.bytes": -5}), models.ErrInvalid, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := d.Decode(tt.rec, ref)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if ev != nil {
				t.Errorf("event returned with error: %+v", ev)
			}
			if got := models.ReasonClass(err); got != tt.class {
				t.Errorf("ReasonClass = %q, want %q", got, tt.class)
			}
		})
	}
}

// TestValidateInvalidArguments covers arguments that are not valid JSON on
// an event built in code (Decode cannot produce one: json.RawMessage is
// validated by the JSON parser).
func TestValidateInvalidArguments(t *testing.T) {
	d := models.NewDecoder(models.DefaultDecodeOptions())
	tests := []struct {
		name string
		args string
		want error
	}{
		{"valid", `{"q":1}`, nil},
		{"truncated", `{"q":`, models.ErrMalformed},
		{"bare word", `abc`, models.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &models.Event{SchemaVersion: 1, ID: "e", Kind: models.KindToolCall, Time: ref, AgentID: "a", SessionID: "s", ToolName: "t", Arguments: json.RawMessage(tt.args)}
			if err := d.Validate(ev, time.Time{}); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeSkewChecksDisabled(t *testing.T) {
	tests := []struct {
		name string
		opts models.DecodeOptions
		ref  time.Time
	}{
		{"zero reference time", models.DefaultDecodeOptions(), time.Time{}},
		{"limits disabled", models.DecodeOptions{}, ref},
	}
	old := ref.Add(-30 * 24 * time.Hour).Format(time.RFC3339)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := models.NewDecoder(tt.opts).Decode(record(t, map[string]any{"time": old}), tt.ref); err != nil {
				t.Errorf("err = %v, want none", err)
			}
		})
	}
}

// FuzzDecode: Decode must never panic, and whatever it accepts must
// re-validate and survive a JSON round trip.
func FuzzDecode(f *testing.F) {
	f.Add(record(f, nil))
	f.Add(record(f, map[string]any{"kind": "agent_spawn", "gen_ai.tool.name": nil, "tether.child_agent.id": "c"}))
	f.Add(record(f, map[string]any{"tether.data_classes": []string{"pii"}, "tether.credential.expires_at": ref.Format(time.RFC3339)}))
	f.Add([]byte(`{"schema_version":1}`))
	f.Add([]byte(`{"gen_ai.tool.call.arguments":{"a":[1,2,{"b":null}]}}`))
	f.Add([]byte(`not json`))
	for _, tc := range hostileCases(f) {
		if len(tc.rec) < 64<<10 {
			f.Add(tc.rec)
		}
	}
	d := models.NewDecoder(models.DefaultDecodeOptions())
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := d.Decode(b, ref)
		if err != nil {
			if ev != nil {
				t.Fatalf("event with error %v", err)
			}
			if models.ReasonClass(err) == "other" {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if err := d.Validate(ev, ref); err != nil {
			t.Fatalf("accepted event does not re-validate: %v", err)
		}
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("accepted event does not marshal: %v", err)
		}
		if _, err := d.Decode(out, ref); err != nil {
			t.Fatalf("accepted event does not survive a round trip: %v\n%s", err, out)
		}
	})
}
