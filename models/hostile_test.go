package models_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

// hole marks where withRaw splices raw bytes into a record (json.Marshal
// would escape or replace them).
const hole = "HOLE"

// withRaw returns record(override) with every "HOLE" replaced by raw.
func withRaw(t testing.TB, override map[string]any, raw string) []byte {
	return bytes.ReplaceAll(record(t, override), []byte(hole), []byte(raw))
}

// withValue returns record(override) with the string "HOLE" (quotes
// included) replaced by the raw JSON value raw.
func withValue(t testing.TB, override map[string]any, raw string) []byte {
	return bytes.Replace(record(t, override), []byte(`"`+hole+`"`), []byte(raw), 1)
}

// withField returns rec with the member "key":raw inserted first.
func withField(rec []byte, key, raw string) []byte {
	return append([]byte(`{"`+key+`":`+raw+`,`), rec[1:]...)
}

// replaced returns rec with the first old replaced by new.
func replaced(rec []byte, old, new string) []byte {
	return bytes.Replace(rec, []byte(old), []byte(new), 1)
}

// nested returns n levels of nested objects.
func nested(n int) string {
	return strings.Repeat(`{"a":`, n) + `1` + strings.Repeat(`}`, n)
}

// hostileCase is one hostile (or borderline) record and what the decoder
// does with it: class is the dead-letter reason class ("" = accepted), and
// check, when set, verifies how an accepted record was normalised.
type hostileCase struct {
	name  string
	rec   []byte
	class string
	check func(*models.Event) error
}

// hostileCases is the hostile-input corpus: one row per case, grouped by
// rule (see the event schema's description and README "Hostile input").
func hostileCases(t testing.TB) []hostileCase {
	contentIs := func(want string) func(*models.Event) error {
		return func(ev *models.Event) error {
			if ev.Content != want {
				return fmt.Errorf("content %q, want %q", ev.Content, want)
			}
			return nil
		}
	}
	manyClasses := make([]string, models.MaxDataClasses+1)
	for i := range manyClasses {
		manyClasses[i] = fmt.Sprintf("c%d", i)
	}
	return []hostileCase{
		// Encoding: records must be UTF-8 (RFC 8259 §8.1); encoders never
		// produce anything else, so invalid bytes mean a broken or hostile
		// producer and are refused rather than replaced.
		{"invalid UTF-8 in agent id", withRaw(t, map[string]any{"gen_ai.agent.id": "a" + hole}, "\xff"), "malformed", nil},
		{"invalid UTF-8 in content", withRaw(t, map[string]any{"tether.content": hole}, "ok \xc3 then"), "malformed", nil},
		{"invalid UTF-8 in tool result", withRaw(t, map[string]any{"gen_ai.tool.call.result": hole}, "\xfe\xfe"), "malformed", nil},
		{"invalid UTF-8 in arguments", withRaw(t, map[string]any{"gen_ai.tool.call.arguments": map[string]any{"to": hole}}, "\x80"), "malformed", nil},
		{"invalid UTF-8 in an unknown field", withRaw(t, map[string]any{"x_extra": hole}, "\xff"), "malformed", nil},
		{"invalid UTF-8 in a key", withRaw(t, map[string]any{"x" + hole: 1}, "\xff"), "malformed", nil},
		{"UTF-8-encoded surrogate", withRaw(t, map[string]any{"tether.content": hole}, "\xed\xa0\x80"), "malformed", nil},
		{"overlong UTF-8", withRaw(t, map[string]any{"tether.content": hole}, "\xc0\xaf"), "malformed", nil},
		{"byte order mark", append([]byte("\xef\xbb\xbf"), record(t, nil)...), "malformed", nil},
		// Unpaired surrogate escapes are valid JSON that encoders emit for
		// undecodable text (Python's surrogateescape): normalised to U+FFFD
		// in text, which marks the replacement; refused in ids.
		{"lone surrogate escape in content: U+FFFD", withRaw(t, map[string]any{"tether.content": hole}, `a\udc80b`), "", contentIs("a\uFFFDb")},
		{"lone surrogate escape in agent id", withRaw(t, map[string]any{"gen_ai.agent.id": hole}, `a\ud800`), "invalid", nil},
		{"escaped NUL in content is text", record(t, map[string]any{"tether.content": "a\x00b"}), "", contentIs("a\x00b")},
		{"valid non-ASCII text", record(t, map[string]any{"tether.content": "héllo 世界 😀"}), "", contentIs("héllo 世界 😀")},

		// Ids: 1–256 bytes of printable ASCII without space, or Unicode
		// letters, marks and digits.
		{"NUL in agent id", record(t, map[string]any{"gen_ai.agent.id": "agent\x00admin"}), "invalid", nil},
		{"raw NUL byte in agent id", withRaw(t, map[string]any{"gen_ai.agent.id": "a" + hole}, "\x00"), "malformed", nil},
		{"500 KB event id", record(t, map[string]any{"event_id": strings.Repeat("e", 500<<10)}), "invalid", nil},
		{"agent id at the limit", record(t, map[string]any{"gen_ai.agent.id": strings.Repeat("a", models.MaxIDBytes)}), "", nil},
		{"agent id over the limit", record(t, map[string]any{"gen_ai.agent.id": strings.Repeat("a", models.MaxIDBytes+1)}), "invalid", nil},
		{"newline in session id", record(t, map[string]any{"gen_ai.conversation.id": "s1\nforged log line"}), "invalid", nil},
		{"space in agent id", record(t, map[string]any{"gen_ai.agent.id": "agent 1"}), "invalid", nil},
		{"trailing space in agent id", record(t, map[string]any{"gen_ai.agent.id": "agent-1 "}), "invalid", nil},
		{"bidi override in agent id", record(t, map[string]any{"gen_ai.agent.id": "agent-\u202egnp"}), "invalid", nil},
		{"zero-width space in principal", record(t, map[string]any{"tether.principal": "ali\u200bce@corp.example"}), "invalid", nil},
		{"U+FFFD in credential id", record(t, map[string]any{"tether.credential.id": "cred-\uFFFD"}), "invalid", nil},
		{"emoji in session id", record(t, map[string]any{"gen_ai.conversation.id": "s-😀"}), "invalid", nil},
		{"tab in tool name", record(t, map[string]any{"gen_ai.tool.name": "send\temail"}), "invalid", nil},
		{"DEL in child agent id", record(t, map[string]any{"tether.child_agent.id": "c\x7f"}), "invalid", nil},
		{"non-ASCII letters in ids", record(t, map[string]any{"gen_ai.agent.id": "agent-é-代理", "tether.principal": "josé@corp.example"}), "", nil},
		{"URI-shaped agent id", record(t, map[string]any{"gen_ai.agent.id": "spiffe://corp.example/ns/prod/sa/agent#1"}), "", nil},
		{"data class with space", record(t, map[string]any{"tether.data_classes": []string{"pii", "card number"}}), "invalid", nil},
		{"empty data class", record(t, map[string]any{"tether.data_classes": []string{""}}), "invalid", nil},
		{"too many data classes", record(t, map[string]any{"tether.data_classes": manyClasses}), "invalid", nil},

		// Names: single line, at most 2048 bytes.
		{"newline in destination", record(t, map[string]any{"tether.destination": "a@b.example\r\nBcc: x@evil.example"}), "invalid", nil},
		{"oversized destination", record(t, map[string]any{"tether.destination": "https://x.example/" + strings.Repeat("a", models.MaxNameBytes)}), "invalid", nil},
		{"agent name with spaces", record(t, map[string]any{"gen_ai.agent.name": "Billing assistant (prod)"}), "", nil},

		// Structure: at most 32 levels, no repeated key, exact key names.
		{"100-deep arguments", withValue(t, map[string]any{"gen_ai.tool.call.arguments": hole}, nested(100)), "malformed", nil},
		{"arguments at the depth limit", withValue(t, map[string]any{"gen_ai.tool.call.arguments": hole}, nested(models.MaxDepth-1)), "", nil},
		{"arguments one level too deep", withValue(t, map[string]any{"gen_ai.tool.call.arguments": hole}, nested(models.MaxDepth)), "malformed", nil},
		{"10,000-deep unknown field", withValue(t, map[string]any{"x_extra": hole}, strings.Repeat("[", 10000)+strings.Repeat("]", 10000)), "malformed", nil},
		{"duplicate agent id key", replaced(record(t, nil), `"gen_ai.agent.id":"agent-1"`, `"gen_ai.agent.id":"agent-1","gen_ai.agent.id":"agent-2"`), "malformed", nil},
		{"duplicate provider key", replaced(record(t, nil), `"gen_ai.agent.id":"agent-1"`, `"gen_ai.agent.id":"agent-1","gen_ai.provider.name":"a","gen_ai.provider.name":"b"`), "malformed", nil},
		{"duplicate error.type key", replaced(record(t, nil), `"gen_ai.agent.id":"agent-1"`, `"gen_ai.agent.id":"agent-1","error.type":"a","error.type":"b"`), "malformed", nil},
		{"duplicate key inside arguments", replaced(record(t, nil), `{"q":"x"}`, `{"to":"boss@corp.example","to":"x@evil.example"}`), "malformed", nil},
		{"duplicate key spelled with an escape", replaced(record(t, nil), `"gen_ai.agent.id":"agent-1"`, `"gen_ai.agent.id":"agent-1","gen_ai.agent\u002eid":"agent-2"`), "malformed", nil},
		{"case-variant key", replaced(record(t, nil), `"gen_ai.agent.id"`, `"Gen_AI.Agent.ID"`), "malformed", nil},
		{"Kelvin-sign key folds to kind", replaced(record(t, nil), `"kind"`, "\"\u212aind\""), "malformed", nil},
		{"unknown extra fields", record(t, map[string]any{"x_vendor": map[string]any{"trace": []int{1, 2}}}), "", nil},

		// Numbers: within float64 range, integers where the schema says so.
		{"1e999 in arguments", withValue(t, map[string]any{"gen_ai.tool.call.arguments": map[string]any{"amount": hole}}, "1e999"), "malformed", nil},
		{"-1e999 in an unknown field", withField(record(t, nil), "x_extra", "-1e999"), "malformed", nil},
		{"1e999 as step", withField(record(t, map[string]any{"tether.step": nil}), "tether.step", "1e999"), "malformed", nil},
		{"fractional step", withField(record(t, map[string]any{"tether.step": nil}), "tether.step", "1.5"), "malformed", nil},
		{"bytes beyond int64", withField(record(t, nil), "tether.bytes", "9223372036854775808"), "malformed", nil},
		{"underflow in arguments is 0", withField(record(t, nil), "x_extra", "1e-999"), "", nil},
		{"NaN", withField(record(t, nil), "x_extra", "NaN"), "malformed", nil},

		// Enumerations (and the reason stays short whatever their size).
		{"500 KB kind", record(t, map[string]any{"kind": strings.Repeat("k", 500<<10)}), "unknown_kind", nil},
		{"500 KB autonomy level", record(t, map[string]any{"tether.autonomy_level": strings.Repeat("x", 500<<10)}), "invalid", nil},
		{"500 KB role", record(t, map[string]any{"tether.role": strings.Repeat("x", 500<<10)}), "invalid", nil},
		{"500 KB agent id, no session", record(t, map[string]any{"gen_ai.agent.id": strings.Repeat("a", 500<<10), "gen_ai.conversation.id": nil}), "invalid", nil},
		{"unknown role", record(t, map[string]any{"tether.role": "admin"}), "invalid", nil},
		{"unknown operation", record(t, map[string]any{"gen_ai.operation.name": "exfiltrate"}), "invalid", nil},

		// Framing.
		{"trailing garbage", append(record(t, nil), []byte(`x`)...), "malformed", nil},
		{"two records in one", append(record(t, nil), record(t, nil)...), "malformed", nil},
	}
}

func TestHostileInput(t *testing.T) {
	d := models.NewDecoder(models.DefaultDecodeOptions())
	cases := hostileCases(t)
	refused := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := d.Decode(tc.rec, ref)
			if tc.class == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.check != nil {
					if err := tc.check(ev); err != nil {
						t.Error(err)
					}
				}
				return
			}
			refused++
			if err == nil {
				t.Fatalf("accepted, want %s", tc.class)
			}
			t.Logf("refused: %.200v", err)
			if got := models.ReasonClass(err); got != tc.class {
				t.Errorf("class %q, want %q: %v", got, tc.class, err)
			}
			if ev != nil {
				t.Errorf("event returned with error")
			}
			if models.ReasonClass(err) == "other" {
				t.Errorf("error wraps no sentinel: %v", err)
			}
			if len(err.Error()) > 512 {
				t.Errorf("reason is %d bytes: it must stay readable in a header", len(err.Error()))
			}
		})
	}
	t.Logf("%d hostile or borderline records, %d refused", len(cases), refused)
}
