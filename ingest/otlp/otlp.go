// Package otlp reads OpenTelemetry traces as the OpenTelemetry Collector's
// Kafka exporter writes them (encodings otlp_proto and otlp_json: one
// TracesData, the same message as an ExportTraceServiceRequest, per record)
// and maps the spans that follow the GenAI semantic conventions to Tether
// events.
//
// Mapping, per span with gen_ai.operation.name:
//
//	invoke_agent   session_start at the span start (tether.content: the user text of
//	               gen_ai.input.messages), session_end at its end. When an ancestor
//	               invoke_agent span of another agent is in the same payload, the span is
//	               a sub-agent: its events carry tether.parent_agent.id / parent_session.id
//	               and the root agent, and the parent gets an agent_spawn event.
//	execute_tool   tool_call at the start (gen_ai.tool.name, .call.id, .call.arguments),
//	               tool_result at the end (gen_ai.tool.call.result; error.type, or the
//	               status message of an ERROR status, as the tool error).
//	chat           a user message event at the start when the last input message is the
//	               user's (a new turn), a reasoning event at the end with the assistant's
//	               text output.
//
// Other spans are ignored. The agent (gen_ai.agent.id, else .name), the
// session (gen_ai.conversation.id), the principal (enduser.id or user.id),
// the model (gen_ai.request.model, else gen_ai.response.model) and the
// provider (gen_ai.provider.name) come from the span, else from the nearest
// enclosing invoke_agent span in the payload; without one the agent is the
// resource's service.name and the session the trace id. Event ids are
// "<span id hex>.<start|end|spawn|call|result|input|output>", so a payload
// delivered twice yields the same ids. Steps count each session's events in
// time order within the payload.
//
// Limitations: lineage and inherited attributes are resolved within one
// payload (the Collector batches a trace's spans together unless its
// batch limits split them).
package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tetherhq/tether/models"
)

// Encodings, named as the Collector's Kafka exporter names them.
const (
	EncodingProto = "otlp_proto"
	EncodingJSON  = "otlp_json"
)

// ErrMalformed is wrapped when a payload is not a valid OTLP trace message.
var ErrMalformed = errors.New("malformed OTLP payload")

// GenAI operation names mapped to events.
const (
	OpInvokeAgent = "invoke_agent"
	OpExecuteTool = "execute_tool"
	OpChat        = "chat"
)

// Sniff reports the OTLP encoding of a Kafka record value, or "" when it is
// not OTLP (a native event). OTLP/JSON starts with the resourceSpans key,
// as the Collector writes it; OTLP protobuf starts with field 1 (tag 0x0a).
// A native event is a JSON object and never starts with that key.
func Sniff(b []byte) string {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) > 0 && t[0] == '{' {
		t = bytes.TrimLeft(t[1:], " \t\r\n")
		if bytes.HasPrefix(t, []byte(`"resourceSpans"`)) || bytes.HasPrefix(t, []byte(`"resource_spans"`)) {
			return EncodingJSON
		}
		return ""
	}
	if len(b) > 0 && b[0] == 0x0a {
		return EncodingProto
	}
	return ""
}

// Unmarshal decodes a payload in either encoding.
func Unmarshal(b []byte, encoding string) (*tracepb.TracesData, error) {
	td := &tracepb.TracesData{}
	switch encoding {
	case EncodingProto:
		if err := proto.Unmarshal(b, td); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, encoding, err)
		}
	case EncodingJSON:
		var tree any
		if err := json.Unmarshal(b, &tree); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, encoding, err)
		}
		// OTLP/JSON writes trace and span ids as hex; protojson reads
		// bytes as base64.
		if err := convertIDs(tree, hexToBase64); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, encoding, err)
		}
		nb, err := json.Marshal(tree)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, encoding, err)
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(nb, td); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, encoding, err)
		}
	default:
		return nil, fmt.Errorf("%w: unknown encoding %q", ErrMalformed, encoding)
	}
	return td, nil
}

// Marshal encodes td; OTLP/JSON with hex ids, as the Collector writes it.
func Marshal(td *tracepb.TracesData, encoding string) ([]byte, error) {
	switch encoding {
	case EncodingProto:
		return proto.Marshal(td)
	case EncodingJSON:
		b, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(td)
		if err != nil {
			return nil, err
		}
		var tree any
		if err := json.Unmarshal(b, &tree); err != nil {
			return nil, err
		}
		if err := convertIDs(tree, base64ToHex); err != nil {
			return nil, err
		}
		return json.Marshal(tree)
	}
	return nil, fmt.Errorf("%w: unknown encoding %q", ErrMalformed, encoding)
}

func hexToBase64(s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("id %q is not hex", s)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func base64ToHex(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// convertIDs rewrites the traceId, spanId and parentSpanId strings of a
// decoded OTLP/JSON tree.
func convertIDs(v any, conv func(string) (string, error)) error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id":
				if s, ok := e.(string); ok && s != "" {
					c, err := conv(s)
					if err != nil {
						return err
					}
					x[k] = c
				}
			default:
				if err := convertIDs(e, conv); err != nil {
					return err
				}
			}
		}
	case []any:
		for _, e := range x {
			if err := convertIDs(e, conv); err != nil {
				return err
			}
		}
	}
	return nil
}

// Shift adds d to every span and span-event time of td (for replays).
func Shift(td *tracepb.TracesData, d time.Duration) {
	add := func(ns uint64) uint64 {
		if ns == 0 {
			return 0
		}
		return uint64(int64(ns) + int64(d))
	}
	for _, rs := range td.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				s.StartTimeUnixNano = add(s.StartTimeUnixNano)
				s.EndTimeUnixNano = add(s.EndTimeUnixNano)
				for _, e := range s.Events {
					e.TimeUnixNano = add(e.TimeUnixNano)
				}
			}
		}
	}
}

// LastTime is the latest span end (or start) time in td; zero when empty.
func LastTime(td *tracepb.TracesData) time.Time {
	var last uint64
	for _, rs := range td.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				last = max(last, s.StartTimeUnixNano, s.EndTimeUnixNano)
			}
		}
	}
	if last == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(last)).UTC()
}

// Decode unmarshals a payload and maps it to events.
func Decode(b []byte, encoding string) ([]*models.Event, error) {
	td, err := Unmarshal(b, encoding)
	if err != nil {
		return nil, err
	}
	return Events(td), nil
}

// span is one span with its resolved context.
type span struct {
	s        *tracepb.Span
	attrs    map[string]*commonpb.AnyValue
	service  string
	op       string
	parent   *span // the parent span, when in the payload
	resolved bool
	// agent context: own or inherited from the enclosing invoke_agent span
	agent, agentName, session, principal, model, provider string
	// lineage of an invoke_agent span
	parentAgent *span // enclosing invoke_agent span of another agent
	root        string
}

// Events maps the GenAI spans of td to events, in time order. The events
// are not validated (models.Decoder.Validate does that).
func Events(td *tracepb.TracesData) []*models.Event {
	byID := map[string]*span{}
	var spans []*span
	for _, rs := range td.GetResourceSpans() {
		service := stringAttr(attrMap(rs.GetResource().GetAttributes()), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := &span{s: s, attrs: attrMap(s.GetAttributes()), service: service}
				sp.op = stringAttr(sp.attrs, "gen_ai.operation.name")
				spans = append(spans, sp)
				byID[string(s.GetTraceId())+string(s.GetSpanId())] = sp
			}
		}
	}
	for _, sp := range spans {
		if p := sp.s.GetParentSpanId(); len(p) > 0 {
			sp.parent = byID[string(sp.s.GetTraceId())+string(p)]
		}
	}
	for _, sp := range spans {
		resolve(sp, 0)
	}
	var out []*models.Event
	for _, sp := range spans {
		out = append(out, spanEvents(sp)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	steps := map[[2]string]int{}
	for _, ev := range out {
		k := [2]string{ev.AgentID, ev.SessionID}
		ev.Step = steps[k]
		steps[k]++
	}
	return out
}

// maxDepth bounds the parent chain walked (cycles in hostile input).
const maxDepth = 64

// resolve fills sp's agent context from its own attributes and its
// enclosing invoke_agent span.
func resolve(sp *span, depth int) {
	if sp.resolved {
		return
	}
	sp.resolved = true
	var enclosing *span // nearest ancestor invoke_agent span
	if depth < maxDepth {
		for p := sp.parent; p != nil && depth < maxDepth; p, depth = p.parent, depth+1 {
			if p.op == OpInvokeAgent {
				resolve(p, depth+1)
				enclosing = p
				break
			}
		}
	}
	sp.agent = firstNonEmpty(stringAttr(sp.attrs, "gen_ai.agent.id"), stringAttr(sp.attrs, "gen_ai.agent.name"))
	sp.agentName = stringAttr(sp.attrs, "gen_ai.agent.name")
	sp.session = stringAttr(sp.attrs, "gen_ai.conversation.id")
	sp.principal = firstNonEmpty(stringAttr(sp.attrs, "enduser.id"), stringAttr(sp.attrs, "user.id"))
	sp.model = firstNonEmpty(stringAttr(sp.attrs, "gen_ai.request.model"), stringAttr(sp.attrs, "gen_ai.response.model"))
	sp.provider = stringAttr(sp.attrs, "gen_ai.provider.name")
	if enclosing != nil {
		newAgent := sp.op == OpInvokeAgent && sp.agent != "" && sp.agent != enclosing.agent
		if newAgent {
			sp.parentAgent = enclosing
			sp.root = enclosing.root
		} else {
			if sp.agent == "" {
				sp.agent, sp.agentName = enclosing.agent, firstNonEmpty(sp.agentName, enclosing.agentName)
			}
			sp.session = firstNonEmpty(sp.session, enclosing.session)
			sp.parentAgent, sp.root = enclosing.parentAgent, enclosing.root
		}
		sp.principal = firstNonEmpty(sp.principal, enclosing.principal)
		if sp.model == "" {
			sp.model = enclosing.model
		}
		sp.provider = firstNonEmpty(sp.provider, enclosing.provider)
	}
	sp.agent = firstNonEmpty(sp.agent, sp.service, "unknown")
	sp.session = firstNonEmpty(sp.session, hex.EncodeToString(sp.s.GetTraceId()))
	sp.root = firstNonEmpty(sp.root, sp.agent)
}

func spanEvents(sp *span) []*models.Event {
	id := hex.EncodeToString(sp.s.GetSpanId())
	start := time.Unix(0, int64(sp.s.GetStartTimeUnixNano())).UTC()
	end := time.Unix(0, int64(sp.s.GetEndTimeUnixNano())).UTC()
	if sp.s.GetEndTimeUnixNano() == 0 {
		end = start
	}
	mk := func(suffix string, kind models.Kind, t time.Time) *models.Event {
		ev := &models.Event{
			SchemaVersion: models.SchemaVersion, ID: id + "." + suffix, Kind: kind, Time: t,
			AgentID: sp.agent, AgentName: sp.agentName, SessionID: sp.session,
			Principal: sp.principal, Model: sp.model, Provider: sp.provider,
		}
		if sp.root != sp.agent {
			ev.RootAgentID = sp.root
		}
		if p := sp.parentAgent; p != nil {
			ev.ParentAgentID, ev.ParentSessionID = p.agent, p.session
		}
		return ev
	}
	switch sp.op {
	case OpInvokeAgent:
		s := mk("start", models.KindSessionStart, start)
		s.Content = messageText(sp.attrs, "gen_ai.input.messages", "user", false)
		out := []*models.Event{s}
		if p := sp.parentAgent; p != nil {
			spawn := mk("spawn", models.KindAgentSpawn, start)
			spawn.AgentID, spawn.AgentName, spawn.SessionID = p.agent, p.agentName, p.session
			spawn.Principal, spawn.Model, spawn.Provider = p.principal, p.model, p.provider
			spawn.RootAgentID, spawn.ParentAgentID, spawn.ParentSessionID = "", "", ""
			if p.root != p.agent {
				spawn.RootAgentID = p.root
			}
			if pp := p.parentAgent; pp != nil {
				spawn.ParentAgentID, spawn.ParentSessionID = pp.agent, pp.session
			}
			spawn.ChildAgentID, spawn.ChildSessionID = sp.agent, sp.session
			out = append(out, spawn)
		}
		return append(out, mk("end", models.KindSessionEnd, end))
	case OpExecuteTool:
		name := firstNonEmpty(stringAttr(sp.attrs, "gen_ai.tool.name"), strings.TrimSpace(strings.TrimPrefix(sp.s.GetName(), OpExecuteTool)), "unknown")
		callID := stringAttr(sp.attrs, "gen_ai.tool.call.id")
		call := mk("call", models.KindToolCall, start)
		call.ToolName, call.ToolCallID = name, callID
		call.Arguments = jsonAttr(sp.attrs["gen_ai.tool.call.arguments"])
		res := mk("result", models.KindToolResult, end)
		res.ToolName, res.ToolCallID = name, callID
		res.Result = textAttr(sp.attrs["gen_ai.tool.call.result"])
		res.ErrorType = stringAttr(sp.attrs, "error.type")
		res.Error = res.ErrorType
		if st := sp.s.GetStatus(); res.Error == "" && st.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			res.Error = firstNonEmpty(st.GetMessage(), "error")
		}
		return []*models.Event{call, res}
	case OpChat:
		var out []*models.Event
		if txt := messageText(sp.attrs, "gen_ai.input.messages", "user", true); txt != "" {
			m := mk("input", models.KindMessage, start)
			m.Role, m.Content = models.RoleUser, txt
			out = append(out, m)
		}
		if txt := messageText(sp.attrs, "gen_ai.output.messages", "assistant", false); txt != "" {
			r := mk("output", models.KindReasoning, end)
			r.Role, r.Content = "assistant", txt
			out = append(out, r)
		}
		return out
	}
	return nil
}

// message is a GenAI structured message (gen_ai.input.messages /
// gen_ai.output.messages).
type message struct {
	Role  string `json:"role"`
	Parts []struct {
		Type    string `json:"type"`
		Content any    `json:"content"`
	} `json:"parts"`
}

// messageText joins the text parts of the messages of role in attribute
// key. With lastOnly, only the last message counts, and only if it has the
// role (a new user turn rather than the history).
func messageText(attrs map[string]*commonpb.AnyValue, key, role string, lastOnly bool) string {
	raw := jsonAttr(attrs[key])
	if raw == nil {
		return ""
	}
	var msgs []message
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return ""
	}
	if lastOnly {
		if len(msgs) == 0 {
			return ""
		}
		msgs = msgs[len(msgs)-1:]
	}
	var parts []string
	for _, m := range msgs {
		if m.Role != role {
			continue
		}
		for _, p := range m.Parts {
			if s, ok := p.Content.(string); ok && p.Type == "text" && s != "" {
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, "\n")
}

func attrMap(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := make(map[string]*commonpb.AnyValue, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}

func stringAttr(m map[string]*commonpb.AnyValue, key string) string {
	return m[key].GetStringValue()
}

// textAttr renders a value as text: strings as they are, anything else as
// JSON.
func textAttr(v *commonpb.AnyValue) string {
	if v == nil {
		return ""
	}
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue
	}
	b, _ := json.Marshal(anyValue(v))
	return string(b)
}

// jsonAttr renders a value as JSON: a string holding JSON as that JSON, any
// other string as a JSON string, structured values as JSON.
func jsonAttr(v *commonpb.AnyValue) json.RawMessage {
	if v == nil || v.GetValue() == nil {
		return nil
	}
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		if json.Valid([]byte(s.StringValue)) {
			return json.RawMessage(s.StringValue)
		}
		b, _ := json.Marshal(s.StringValue)
		return b
	}
	b, err := json.Marshal(anyValue(v))
	if err != nil {
		return nil
	}
	return b
}

// anyValue converts an OTLP AnyValue to a Go value for JSON.
func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, anyValue(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		out := make(map[string]any, len(x.KvlistValue.GetValues()))
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.GetKey()] = anyValue(kv.GetValue())
		}
		return out
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
