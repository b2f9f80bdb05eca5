package otlp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/tetherhq/tether/models"
)

const fixtures = "../../testdata/otlp/"

// ReadFile reads the fixtures the way `tether produce --otlp` does.
func readFixtures(t testing.TB) (proto, js [][]byte) {
	t.Helper()
	b, err := os.ReadFile(fixtures + "agent_run.binpb")
	if err != nil {
		t.Fatal(err)
	}
	for len(b) > 0 {
		n := binary.BigEndian.Uint32(b)
		proto = append(proto, b[4:4+n])
		b = b[4+n:]
	}
	f, err := os.Open(fixtures + "agent_run.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		js = append(js, bytes.Clone(sc.Bytes()))
	}
	return proto, js
}

func nativeEvents(t testing.TB) []*models.Event {
	t.Helper()
	b, err := os.ReadFile(fixtures + "agent_run.events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	dec := models.NewDecoder(models.DecodeOptions{})
	var out []*models.Event
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		ev, err := dec.Decode(line, time.Time{})
		if err != nil {
			t.Fatalf("native fixture: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

// TestFixturesMatchNativeEvents decodes the OTLP payloads the Python SDK's
// encoder produced (both encodings) and compares the events with the native
// events the fixture script recorded for the same run.
func TestFixturesMatchNativeEvents(t *testing.T) {
	proto, js := readFixtures(t)
	want := nativeEvents(t)
	dec := models.NewDecoder(models.DecodeOptions{})
	for _, tc := range []struct {
		enc      string
		payloads [][]byte
	}{{EncodingProto, proto}, {EncodingJSON, js}} {
		t.Run(tc.enc, func(t *testing.T) {
			if len(tc.payloads) != 2 {
				t.Fatalf("%d payloads", len(tc.payloads))
			}
			var got []*models.Event
			for _, p := range tc.payloads {
				if enc := Sniff(p); enc != tc.enc {
					t.Fatalf("Sniff = %q, want %q", enc, tc.enc)
				}
				evs, err := Decode(p, tc.enc)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range evs {
					if err := dec.Validate(ev, time.Time{}); err != nil {
						t.Fatalf("event %s: %v", ev.ID, err)
					}
				}
				got = append(got, evs...)
			}
			if len(got) != len(want) {
				t.Fatalf("%d events, want %d", len(got), len(want))
			}
			wantByID := map[string]*models.Event{}
			for _, ev := range want {
				wantByID[ev.ID] = ev
			}
			for _, g := range got {
				w := wantByID[g.ID]
				if w == nil {
					t.Errorf("unexpected event %s (%s)", g.ID, g.Kind)
					continue
				}
				if !sameJSON(g.Arguments, w.Arguments) {
					t.Errorf("%s: arguments %s, want %s", g.ID, g.Arguments, w.Arguments)
				}
				gc, wc := *g, *w
				gc.Arguments, wc.Arguments = nil, nil
				if !reflect.DeepEqual(gc, wc) {
					gb, _ := json.Marshal(gc)
					wb, _ := json.Marshal(wc)
					t.Errorf("event %s differs:\n got %s\nwant %s", g.ID, gb, wb)
				}
			}
		})
	}
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestRoundTrip re-encodes the fixtures in both encodings, shifted, and
// checks that nothing but the times changed.
func TestRoundTrip(t *testing.T) {
	proto, js := readFixtures(t)
	for i := range proto {
		a, err := Unmarshal(proto[i], EncodingProto)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Unmarshal(js[i], EncodingJSON)
		if err != nil {
			t.Fatal(err)
		}
		ea, eb := Events(a), Events(b)
		if !reflect.DeepEqual(ea, eb) {
			t.Fatalf("payload %d: proto and JSON encodings map differently", i)
		}
		last := LastTime(a)
		Shift(a, time.Hour)
		if got := LastTime(a); !got.Equal(last.Add(time.Hour)) {
			t.Fatalf("LastTime after Shift %s, want %s", got, last.Add(time.Hour))
		}
		for _, enc := range []string{EncodingProto, EncodingJSON} {
			out, err := Marshal(a, enc)
			if err != nil {
				t.Fatal(err)
			}
			if Sniff(out) != enc {
				t.Fatalf("re-encoded %s not recognised: %.40q", enc, out)
			}
			back, err := Decode(out, enc)
			if err != nil {
				t.Fatal(err)
			}
			for j, ev := range back {
				if !ev.Time.Equal(ea[j].Time.Add(time.Hour)) || ev.ID != ea[j].ID {
					t.Fatalf("%s: event %d %s at %s, want %s at %s", enc, j, ev.ID, ev.Time, ea[j].ID, ea[j].Time.Add(time.Hour))
				}
			}
		}
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`{"schema_version":1,"event_id":"x"}`, ""},
		{` {"resourceSpans":[]}`, EncodingJSON},
		{"{\n  \"resource_spans\": []}", EncodingJSON},
		{`{"tether.content":"{\"resourceSpans\":1}","schema_version":1}`, ""},
		{"\x0a\x02\x0a\x00", EncodingProto},
		{"", ""},
		{"not json", ""},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.in)); got != tt.want {
			t.Errorf("Sniff(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMappingEdgeCases covers spans the fixture run does not: structured
// attribute values, a tool span without a tool name attribute, an ERROR
// status without error.type, no enclosing agent, a parent cycle.
func TestMappingEdgeCases(t *testing.T) {
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	kv := &commonpb.KeyValue{Key: "gen_ai.tool.call.arguments", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{
		KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{str("q", "x"), {Key: "n", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 3}}}}}}}}
	tid := bytes.Repeat([]byte{1}, 16)
	td := &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{TraceId: tid, SpanId: []byte{1, 0, 0, 0, 0, 0, 0, 1}, ParentSpanId: []byte{1, 0, 0, 0, 0, 0, 0, 2}, Name: "execute_tool web.fetch",
				StartTimeUnixNano: 1e18, EndTimeUnixNano: 1e18 + 5,
				Attributes: []*commonpb.KeyValue{str("gen_ai.operation.name", "execute_tool"), kv, str("gen_ai.tool.call.arguments.ignored", "")},
				Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"}},
			{TraceId: tid, SpanId: []byte{1, 0, 0, 0, 0, 0, 0, 2}, ParentSpanId: []byte{1, 0, 0, 0, 0, 0, 0, 1}, Name: "loop",
				StartTimeUnixNano: 1e18 - 10, EndTimeUnixNano: 1e18 + 10},
			{TraceId: tid, SpanId: []byte{1, 0, 0, 0, 0, 0, 0, 3}, Name: "GET /", StartTimeUnixNano: 1e18},
		}}},
	}}}
	evs := Events(td)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2 (tool call and result)", len(evs))
	}
	call, res := evs[0], evs[1]
	if call.ToolName != "web.fetch" || call.AgentID != "unknown" || call.SessionID != "01010101010101010101010101010101" {
		t.Errorf("call %+v", call)
	}
	if !sameJSON(call.Arguments, json.RawMessage(`{"q":"x","n":3}`)) {
		t.Errorf("structured arguments %s", call.Arguments)
	}
	if res.Error != "boom" || res.ErrorType != "" || res.Step != 1 {
		t.Errorf("result %+v", res)
	}
	if err := models.NewDecoder(models.DecodeOptions{}).Validate(call, time.Time{}); err != nil {
		t.Error(err)
	}
}

// FuzzDecode checks that no payload panics the decoder or the mapping and
// that mapped events always carry the fields validation requires.
func FuzzDecode(f *testing.F) {
	proto, js := readFixtures(f)
	for _, p := range proto {
		f.Add(p)
	}
	for _, p := range js {
		f.Add(p)
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"zz"}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		enc := Sniff(b)
		if enc == "" {
			return
		}
		evs, err := Decode(b, enc)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.ID == "" || ev.AgentID == "" || ev.SessionID == "" || !ev.Kind.Valid() {
				t.Fatalf("event without required fields: %+v", ev)
			}
		}
	})
}
