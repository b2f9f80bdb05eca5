package agentdojo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed agentdojo record")

// Header is the metadata line that opens an Invariant Explorer export.
type Header struct {
	// Name is the pipeline name, e.g. "gpt-4o-2024-05-13-tool_filter".
	Name string
	// Benchmark is the benchmark name ("agent-dojo").
	Benchmark string
}

// ToolCall is one tool invocation requested by the assistant.
type ToolCall struct {
	ID   string
	Name string
	// Args is the arguments object as JSON (never empty: "{}" when none).
	Args json.RawMessage
}

// Message is one chat message, normalised from either export format.
type Message struct {
	// Role is system, user, assistant or tool.
	Role string
	// Text is the message text; content blocks (text and thinking) are
	// joined with newlines.
	Text string
	// ToolCalls are the assistant's tool calls, in order.
	ToolCalls []ToolCall
	// ToolCallID and ToolName identify the call a tool message answers.
	ToolCallID string
	ToolName   string
	// Error is the tool's error text, if any.
	Error string
}

// Run is one recorded benchmark run (one agent session).
type Run struct {
	// Pipeline is the model or defended pipeline that ran.
	Pipeline string
	Suite    string
	Model    string
	UserTask string
	// InjectionTask is empty when the run was not attacked.
	InjectionTask string
	AttackType    string
	// Security is the benchmark's security flag; on an attacked run, true
	// means the injection succeeded.
	Security bool
	// Utility is whether the user's task was accomplished (nil: unknown).
	Utility *bool
	// Injections are the injected texts when the export records them
	// (upstream layout only).
	Injections []string
	Messages   []Message
	// Source names where the run was read from (file and line).
	Source string
}

// Attacked reports whether an injection was planted in the run.
func (r *Run) Attacked() bool { return r.InjectionTask != "" }

// Hijacked reports whether the injection succeeded.
func (r *Run) Hijacked() bool { return r.Attacked() && r.Security }

type rawToolCall struct {
	ID        string          `json:"id"`
	Function  json.RawMessage `json:"function"`
	Args      json.RawMessage `json:"args"`
	Arguments json.RawMessage `json:"arguments"`
}

type rawMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []rawToolCall   `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCall   *rawToolCall    `json:"tool_call"`
	Error      json.RawMessage `json:"error"`
}

type rawMeta struct {
	Benchmark       string          `json:"benchmark"`
	Name            string          `json:"name"`
	SuiteName       string          `json:"suite_name"`
	PipelineName    string          `json:"pipeline_name"`
	Model           string          `json:"model"`
	UserTaskID      string          `json:"user_task_id"`
	InjectionTaskID *string         `json:"injection_task_id"`
	AttackType      *string         `json:"attack_type"`
	Security        *bool           `json:"security"`
	Success         *bool           `json:"success"`
	Utility         *bool           `json:"utility"`
	Injections      json.RawMessage `json:"injections"`
}

type rawLine struct {
	Messages json.RawMessage `json:"messages"`
	Metadata *rawMeta        `json:"metadata"`
}

type rawUpstream struct {
	rawMeta
	Messages []rawMessage `json:"messages"`
}

// DecodeLine decodes one line of an Invariant Explorer JSONL export. It
// returns either the header (metadata line) or a run; pipeline is the name
// from the file's header, used when the run's metadata names no model.
// Blank lines yield neither and no error.
func DecodeLine(b []byte, pipeline string) (*Header, *Run, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil, nil
	}
	if b[0] != '{' {
		return nil, nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var l rawLine
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if l.Metadata == nil {
		return nil, nil, fmt.Errorf("%w: no metadata", ErrMalformed)
	}
	if l.Messages == nil {
		if l.Metadata.Name == "" && l.Metadata.Benchmark == "" {
			return nil, nil, fmt.Errorf("%w: header without name", ErrMalformed)
		}
		return &Header{Name: l.Metadata.Name, Benchmark: l.Metadata.Benchmark}, nil, nil
	}
	var msgs []rawMessage
	if !bytes.Equal(l.Messages, []byte("null")) {
		if err := json.Unmarshal(l.Messages, &msgs); err != nil {
			return nil, nil, fmt.Errorf("%w: messages: %v", ErrMalformed, err)
		}
	}
	if pipeline == "" {
		pipeline = l.Metadata.Model
	}
	run, err := buildRun(l.Metadata, msgs, pipeline)
	if err != nil {
		return nil, nil, err
	}
	return nil, run, nil
}

// DecodeRunFile decodes one result file of AgentDojo's upstream
// runs/<pipeline>/<suite>/<user_task>/<attack|none>/<injection_task|none>.json
// layout. The path components fill what the file leaves empty.
func DecodeRunFile(b []byte, pipeline, suite, userTask, injectionTask string) (*Run, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var u rawUpstream
	if err := json.Unmarshal(b, &u); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m := u.rawMeta
	if m.PipelineName != "" {
		pipeline = m.PipelineName
	}
	if m.SuiteName == "" {
		m.SuiteName = suite
	}
	if m.UserTaskID == "" {
		m.UserTaskID = userTask
	}
	if m.InjectionTaskID == nil && injectionTask != "" && injectionTask != "none" {
		m.InjectionTaskID = &injectionTask
	}
	if m.Success == nil {
		m.Success = m.Utility
	}
	return buildRun(&m, u.Messages, pipeline)
}

func buildRun(m *rawMeta, msgs []rawMessage, pipeline string) (*Run, error) {
	r := &Run{
		Pipeline: pipeline, Suite: m.SuiteName, Model: m.Model, UserTask: m.UserTaskID,
		Utility: m.Success,
	}
	if r.Pipeline == "" {
		return nil, fmt.Errorf("%w: no pipeline name", ErrMalformed)
	}
	if r.Suite == "" || r.UserTask == "" {
		return nil, fmt.Errorf("%w: suite_name or user_task_id missing", ErrMalformed)
	}
	if m.InjectionTaskID != nil {
		r.InjectionTask = *m.InjectionTaskID
	}
	if m.AttackType != nil {
		r.AttackType = *m.AttackType
	}
	if m.Security != nil {
		r.Security = *m.Security
	}
	if len(m.Injections) > 0 && m.Injections[0] == '{' {
		var inj map[string]string
		if err := json.Unmarshal(m.Injections, &inj); err != nil {
			return nil, fmt.Errorf("%w: injections: %v", ErrMalformed, err)
		}
		for _, k := range sortedKeys(inj) {
			r.Injections = append(r.Injections, inj[k])
		}
	}
	for i := range msgs {
		msg, err := normaliseMessage(&msgs[i])
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		r.Messages = append(r.Messages, msg)
	}
	return r, nil
}

func normaliseMessage(m *rawMessage) (Message, error) {
	out := Message{Role: m.Role, ToolCallID: m.ToolCallID}
	switch m.Role {
	case "system", "user", "assistant", "tool":
	default:
		return out, fmt.Errorf("%w: role %q", ErrMalformed, m.Role)
	}
	text, err := contentText(m.Content)
	if err != nil {
		return out, err
	}
	out.Text = text
	for i := range m.ToolCalls {
		tc, err := normaliseCall(&m.ToolCalls[i])
		if err != nil {
			return out, fmt.Errorf("tool call %d: %w", i, err)
		}
		out.ToolCalls = append(out.ToolCalls, tc)
	}
	if m.ToolCall != nil {
		tc, err := normaliseCall(m.ToolCall)
		if err == nil {
			out.ToolName = tc.Name
			if out.ToolCallID == "" {
				out.ToolCallID = tc.ID
			}
		}
	}
	if len(m.Error) > 0 && !bytes.Equal(m.Error, []byte("null")) {
		var s string
		if json.Unmarshal(m.Error, &s) == nil {
			out.Error = s
		} else {
			out.Error = string(m.Error)
		}
	}
	return out, nil
}

// contentText flattens null, a string, or a list of content blocks
// ({"type": "text"|"thinking", "content"|"text"|"thinking": …}).
func contentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: content: %v", ErrMalformed, err)
		}
		return s, nil
	case '[':
		var blocks []struct {
			Type     string  `json:"type"`
			Content  *string `json:"content"`
			Text     *string `json:"text"`
			Thinking *string `json:"thinking"`
		}
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return "", fmt.Errorf("%w: content blocks: %v", ErrMalformed, err)
		}
		var parts []string
		for _, b := range blocks {
			for _, p := range []*string{b.Content, b.Text, b.Thinking} {
				if p != nil && *p != "" {
					parts = append(parts, *p)
					break
				}
			}
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("%w: content is neither text nor blocks", ErrMalformed)
}

// normaliseCall accepts the OpenAI shape {id, function: {name, arguments}}
// (arguments an object or a JSON string) and AgentDojo's {id, function:
// "name", args: {…}}.
func normaliseCall(c *rawToolCall) (ToolCall, error) {
	tc := ToolCall{ID: c.ID}
	args := c.Args
	fn := bytes.TrimSpace(c.Function)
	switch {
	case len(fn) > 0 && fn[0] == '"':
		if err := json.Unmarshal(fn, &tc.Name); err != nil {
			return tc, fmt.Errorf("%w: function: %v", ErrMalformed, err)
		}
	case len(fn) > 0 && fn[0] == '{':
		var f struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(fn, &f); err != nil {
			return tc, fmt.Errorf("%w: function: %v", ErrMalformed, err)
		}
		tc.Name = f.Name
		if len(args) == 0 {
			args = f.Arguments
		}
	default:
		return tc, fmt.Errorf("%w: tool call without function", ErrMalformed)
	}
	if tc.Name == "" {
		return tc, fmt.Errorf("%w: tool call without a name", ErrMalformed)
	}
	if len(args) == 0 {
		args = c.Arguments
	}
	tc.Args = normaliseArgs(args)
	return tc, nil
}

// normaliseArgs returns compact JSON for an arguments value: objects as
// they are, a JSON string holding an object decoded, null as {}, anything
// else wrapped as {"_raw": value}.
func normaliseArgs(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return json.RawMessage("{}")
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			t := strings.TrimSpace(s)
			if t == "" {
				return json.RawMessage("{}")
			}
			if json.Valid([]byte(t)) && t[0] == '{' {
				raw = json.RawMessage(t)
			}
		}
	}
	if raw[0] == '{' {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return buf.Bytes()
		}
	}
	b, _ := json.Marshal(map[string]json.RawMessage{"_raw": raw})
	if !json.Valid(b) {
		b, _ = json.Marshal(map[string]string{"_raw": string(raw)})
	}
	return b
}
