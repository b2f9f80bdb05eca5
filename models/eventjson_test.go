package models_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/models"
)

// fleetRecords returns n fleet events marshalled as producers emit them.
func fleetRecords(tb testing.TB, n int) [][]byte {
	evs := fleet.New(fleet.DefaultOptions()).Take(n)
	recs := make([][]byte, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			tb.Fatal(err)
		}
		recs[i] = b
	}
	return recs
}

// checkEquivalent checks the fast path's contract on b: when it succeeds,
// the record passes the hostile-input scan and json.Unmarshal succeeds too
// and yields an identical Event. It reports whether the fast path took the
// record.
func checkEquivalent(t *testing.T, b []byte) bool {
	t.Helper()
	var fast, slow models.Event
	ok := models.DecodeEventFast(b, &fast)
	err := json.Unmarshal(b, &slow)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("fast path accepted what json.Unmarshal rejects (%v):\n%q", err, b)
	}
	if err := models.ScanRecord(b); err != nil {
		t.Fatalf("fast path accepted a hostile record (%v):\n%q", err, b)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast path and json.Unmarshal disagree on\n%q\nfast: %#v\nslow: %#v", b, fast, slow)
	}
	// reflect.DeepEqual treats nil and empty RawMessage alike only when both
	// are nil; compare bytes explicitly too.
	if !bytes.Equal(fast.Arguments, slow.Arguments) || (fast.Arguments == nil) != (slow.Arguments == nil) {
		t.Fatalf("arguments differ: %q vs %q", fast.Arguments, slow.Arguments)
	}
	return true
}

// Tricky inputs; fast says whether the fast path must take the record
// itself (true) or may defer to json.Unmarshal (false: either is fine,
// the contract only binds when it takes it).
var trickyRecords = []struct {
	name string
	rec  string
	fast bool
}{
	{"minimal", `{"schema_version":1}`, true},
	{"empty object", `{}`, true},
	{"whitespace everywhere", " \t\n{ \"schema_version\" \r: 1 , \"event_id\" :\"e\" } \n", true},
	{"escapes", `{"event_id":"a\"b\\c\/d\b\f\n\r\te\u00e9\u20AC"}`, true},
	{"surrogate pair", `{"event_id":"\ud83d\ude00"}`, true},
	{"lone high surrogate", `{"event_id":"\ud83dx"}`, true},
	{"lone low surrogate", `{"event_id":"\ude00"}`, true},
	{"high then non-low", `{"event_id":"\ud83d\u0041"}`, true},
	{"high then high", `{"event_id":"\ud83d\ud83d\ude00"}`, true},
	{"invalid utf8", "{\"event_id\":\"a\xffb\xc3\"}", false},           // hostile: refused
	{"utf8 surrogate bytes", "{\"event_id\":\"\xed\xa0\x80\"}", false}, // hostile: refused
	{"valid utf8", `{"tether.content":"héllo 世界 😀"}`, true},
	{"nul escape", `{"event_id":"\u0000"}`, true},
	{"control char", "{\"event_id\":\"a\x01\"}", false},
	{"bad escape", `{"event_id":"\x"}`, false},
	{"short unicode escape", `{"event_id":"\u12"}`, false},
	{"null string", `{"event_id":null}`, true},
	{"duplicate last wins", `{"event_id":"a","event_id":"b"}`, false},  // hostile: refused
	{"duplicate then null", `{"event_id":"a","event_id":null}`, false}, // hostile: refused
	{"int negative zero", `{"tether.step":-0}`, true},
	{"int negative", `{"tether.step":-7,"tether.bytes":-9}`, true},
	{"int max 18 digits", `{"tether.bytes":999999999999999999}`, true},
	{"int 19 digits", `{"tether.bytes":9223372036854775807}`, false},
	{"int overflow", `{"tether.bytes":9223372036854775808}`, false},
	{"int float", `{"tether.step":1.5}`, false},
	{"int float zero", `{"tether.step":1.0}`, false},
	{"int exponent", `{"tether.step":1e3}`, false},
	{"int leading zero", `{"tether.step":01}`, false},
	{"int string", `{"tether.step":"1"}`, false},
	{"int null", `{"tether.step":3,"tether.step":null}`, false}, // hostile: refused
	{"int bool", `{"tether.step":true}`, false},
	{"string number", `{"event_id":1}`, false},
	{"time", `{"time":"2026-05-01T12:00:00.123456789+02:00"}`, true},
	{"time Z", `{"time":"2026-05-01T12:00:00Z"}`, true},
	{"time null", `{"time":null}`, true},
	{"time lower z", `{"time":"2026-05-01t12:00:00z"}`, false},
	{"time bad hour", `{"time":"2026-05-01T24:00:00Z"}`, false},
	{"time escaped", `{"time":"2026-05-01T12:00:00\u005a"}`, false},
	{"time number", `{"time":5}`, false},
	{"time object", `{"time":{}}`, false},
	{"time comma frac", `{"time":"2026-05-01T12:00:00,5Z"}`, false},
	{"time ptr", `{"tether.credential.expires_at":"2026-05-01T12:00:00Z"}`, true},
	{"time ptr null", `{"tether.credential.expires_at":"2026-05-01T12:00:00Z","tether.credential.expires_at":null}`, false}, // hostile: refused
	{"time ptr bad", `{"tether.principal.session_end":"x"}`, false},
	{"data classes", `{"tether.data_classes":["pii","secret"]}`, true},
	{"data classes empty", `{"tether.data_classes":[ ]}`, true},
	{"data classes null", `{"tether.data_classes":["a"],"tether.data_classes":null}`, false}, // hostile: refused
	{"data classes null element", `{"tether.data_classes":["a",null]}`, false},
	{"data classes dup shrink", `{"tether.data_classes":["a","b"],"tether.data_classes":[null]}`, false},
	{"data classes number", `{"tether.data_classes":[1]}`, false},
	{"data classes trailing comma", `{"tether.data_classes":["a",]}`, false},
	{"arguments object", `{"gen_ai.tool.call.arguments": { "a" : [1, 2.5e-3, {"b":null}, true, false, "\u00e9"] } }`, true},
	{"arguments null", `{"gen_ai.tool.call.arguments":null}`, true},
	{"arguments string", `{"gen_ai.tool.call.arguments":"x\u0041"}`, true},
	{"arguments number", `{"gen_ai.tool.call.arguments":-0.5E+10}`, true},
	{"arguments bad number", `{"gen_ai.tool.call.arguments":-}`, false},
	{"arguments bad", `{"gen_ai.tool.call.arguments":{"q":}}`, false},
	{"arguments dup", `{"gen_ai.tool.call.arguments":[1,2,3],"gen_ai.tool.call.arguments":{}}`, false}, // hostile: refused
	{"unknown key", `{"foo":{"bar":[1,{"baz":"q"}]},"schema_version":1}`, true},
	{"unknown key bad value", `{"foo":[1,}`, false},
	{"unknown key literal", `{"foo":nul}`, false},
	{"case-insensitive key", `{"Event_ID":"x"}`, false},
	{"kelvin key", "{\"\u212aind\":\"tool_call\"}", false},
	{"escaped key", `{"event\u005fid":"x"}`, false},
	{"kind interned", `{"kind":"tool_call","tether.role":"assistant","tether.autonomy_level":"junior","gen_ai.operation.name":"chat"}`, true},
	{"kind escaped", `{"kind":"tool\u005fcall"}`, true},
	{"kind other", `{"kind":"teleport"}`, true},
	{"trailing garbage", `{"schema_version":1}x`, false},
	{"trailing object", `{"schema_version":1}{}`, false},
	{"trailing comma", `{"schema_version":1,}`, false},
	{"missing colon", `{"schema_version" 1}`, false},
	{"truncated", `{"schema_version":1`, false},
	{"not object", `[1]`, false},
	{"deep arguments", `{"gen_ai.tool.call.arguments":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, false},
	{"very deep arguments", `{"gen_ai.tool.call.arguments":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, false},
	{"100 deep: hostile", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, false},
	{"at the depth limit", `{"x":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`, true},
	{"one past the depth limit", `{"x":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`, false},
	{"nested duplicate key", `{"gen_ai.tool.call.arguments":{"a":{"to":"x","to":"y"}}}`, false},
	{"nested escaped duplicate key", `{"gen_ai.tool.call.arguments":{"to":"x","t\u006f":"y"}}`, false},
	{"nested keys differ", `{"gen_ai.tool.call.arguments":{"to":"x","To":"y","t":1}}`, true},
	{"many keys", `{"gen_ai.tool.call.arguments":{` + manyKeys(40, false) + `}}`, true},
	{"many keys, one repeated", `{"gen_ai.tool.call.arguments":{` + manyKeys(40, true) + `}}`, false},
	{"unknown key repeated", `{"foo":1,"foo":2}`, false},
	{"number out of range", `{"gen_ai.tool.call.arguments":{"n":1e999}}`, false},
	{"number negative out of range", `{"x":-1.5E+400}`, false},
	{"number underflow", `{"x":1e-999}`, true},
	{"number long integer", `{"x":` + strings.Repeat("9", 400) + `}`, false},
	{"number long integer in range", `{"x":` + strings.Repeat("9", 300) + `}`, true},
	{"invalid utf8 in arguments", "{\"gen_ai.tool.call.arguments\":{\"q\":\"\xff\"}}", false},
	{"invalid utf8 in unknown key", "{\"x\xff\":1}", false},
	{"valid utf8 in arguments", `{"gen_ai.tool.call.arguments":{"q":"€ 世界"}}`, true},
}

// manyKeys renders n distinct "kN":N members, the last repeating the first
// when repeat is set.
func manyKeys(n int, repeat bool) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		k := i
		if repeat && i == n-1 {
			k = 0
		}
		fmt.Fprintf(&b, `"k%d":%d`, k, i)
	}
	return b.String()
}

func TestDecodeFastTricky(t *testing.T) {
	for _, tt := range trickyRecords {
		t.Run(tt.name, func(t *testing.T) {
			took := checkEquivalent(t, []byte(tt.rec))
			if tt.fast && !took {
				t.Errorf("fast path deferred to json.Unmarshal")
			}
			// Decode as a whole must agree with the reference path.
			compareDecode(t, []byte(tt.rec))
		})
	}
}

// TestDecodeFastFleet: every event a Tether producer emits takes the fast
// path and decodes identically.
func TestDecodeFastFleet(t *testing.T) {
	for _, rec := range fleetRecords(t, 2000) {
		if !checkEquivalent(t, rec) {
			t.Fatalf("fleet record deferred to json.Unmarshal:\n%s", rec)
		}
	}
}

// referenceDecode is Decode without the fast path: the hostile-input scan,
// json.Unmarshal, then validate.
func referenceDecode(d *models.Decoder, b []byte, ref time.Time) (*models.Event, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, models.ErrMalformed
	}
	if err := models.ScanRecord(b); err != nil {
		return nil, err
	}
	var ev models.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, models.ErrMalformed
	}
	if err := d.Validate(&ev, ref); err != nil {
		return nil, err
	}
	return &ev, nil
}

func compareDecode(t *testing.T, b []byte) {
	t.Helper()
	d := models.NewDecoder(models.DecodeOptions{})
	got, gerr := d.Decode(b, time.Time{})
	want, werr := referenceDecode(d, b, time.Time{})
	if (gerr == nil) != (werr == nil) || models.ReasonClass(gerr) != models.ReasonClass(werr) {
		t.Fatalf("Decode err = %v, reference err = %v on\n%q", gerr, werr, b)
	}
	if gerr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode and reference disagree on\n%q\ngot:  %#v\nwant: %#v", b, got, want)
	}
}

// FuzzDecodeEquivalence: for any input, the fast path either defers or
// agrees with json.Unmarshal (success and Event), and Decode agrees with the
// json.Unmarshal-based reference on success, error class and Event.
func FuzzDecodeEquivalence(f *testing.F) {
	for _, rec := range fleetRecords(f, 200) {
		f.Add(rec)
	}
	for _, tt := range trickyRecords {
		if len(tt.rec) < 1000 {
			f.Add([]byte(tt.rec))
		}
	}
	f.Add(record(f, nil))
	f.Add(record(f, nil)[:40])
	f.Add(record(f, map[string]any{"tether.step": "three"}))
	f.Add(record(f, map[string]any{"time": "yesterday"}))
	f.Add(record(f, map[string]any{"tether.data_classes": []string{"pii"}, "tether.credential.expires_at": ref.Format(time.RFC3339)}))
	f.Add([]byte(`not json`))
	f.Add([]byte(`[1,2]`))
	for _, tc := range hostileCases(f) {
		if len(tc.rec) < 64<<10 {
			f.Add(tc.rec)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkEquivalent(t, b)
		compareDecode(t, b)
	})
}

// BenchmarkDecode measures Decoder.Decode on fleet events against the
// json.Unmarshal-based reference path; "escaped" are fleet events whose
// content and tool results carry a 1 KB multi-line text with quotes and
// non-ASCII letters (as AgentDojo's do), decoded by the escape path.
func BenchmarkDecode(b *testing.B) {
	plain := fleetRecords(b, 4096)
	escaped := make([][]byte, 0, 1024)
	text := strings.Repeat("Line with \"quoted\" words, café prices\tand a path C:\\tmp.\n", 16)
	for _, ev := range fleet.New(fleet.DefaultOptions()).Take(1024) {
		if ev.Kind == models.KindToolResult {
			ev.Result = text
		} else {
			ev.Content = text
		}
		r, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		escaped = append(escaped, r)
	}
	d := models.NewDecoder(models.DefaultDecodeOptions())
	for _, bc := range []struct {
		name string
		recs [][]byte
		dec  func([]byte) (*models.Event, error)
	}{
		{"fast", plain, func(r []byte) (*models.Event, error) { return d.Decode(r, time.Time{}) }},
		{"escaped", escaped, func(r []byte) (*models.Event, error) { return d.Decode(r, time.Time{}) }},
		{"encoding-json", plain, func(r []byte) (*models.Event, error) { return referenceDecode(d, r, time.Time{}) }},
	} {
		recs := bc.recs
		var size int
		for _, r := range recs {
			size += len(r)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size / len(recs)))
			i := 0
			for b.Loop() {
				if _, err := bc.dec(recs[i%len(recs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
