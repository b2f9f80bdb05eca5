package models

import (
	"encoding/json"
	"time"
)

// SchemaVersion is the only event schema version this build understands.
const SchemaVersion = 1

// Kind is the type of an agent event.
type Kind string

// Event kinds.
const (
	KindSessionStart Kind = "session_start" // an agent session (a run) begins
	KindSessionEnd   Kind = "session_end"   // an agent session ends
	KindReasoning    Kind = "reasoning"     // a reasoning / planning step
	KindToolCall     Kind = "tool_call"     // the agent invokes a tool
	KindToolResult   Kind = "tool_result"   // a tool returns to the agent
	KindAgentSpawn   Kind = "agent_spawn"   // the agent creates or delegates to a sub-agent
	KindMessage      Kind = "message"       // a user or system message enters the session
)

// Kinds lists every valid kind, in a stable order.
var Kinds = []Kind{KindSessionStart, KindSessionEnd, KindReasoning, KindToolCall, KindToolResult, KindAgentSpawn, KindMessage}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Operation returns the OpenTelemetry gen_ai.operation.name for k.
func (k Kind) Operation() string {
	switch k {
	case KindToolCall, KindToolResult:
		return "execute_tool"
	case KindAgentSpawn:
		return "create_agent"
	case KindSessionStart, KindSessionEnd:
		return "invoke_agent"
	default:
		return "chat"
	}
}

// Role of the author of a message or step.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Event is one thing an agent did or saw. Field names on the wire follow
// the OpenTelemetry GenAI semantic conventions where one exists.
type Event struct {
	// SchemaVersion is the wire format version; only SchemaVersion is accepted.
	SchemaVersion int `json:"schema_version"`
	// ID uniquely identifies the event (a UUID or any unique string).
	ID string `json:"event_id"`
	// Kind says what happened.
	Kind Kind `json:"kind"`
	// Time is when it happened, as reported by the agent runtime.
	Time time.Time `json:"time"`

	AgentID      string `json:"gen_ai.agent.id"`
	AgentName    string `json:"gen_ai.agent.name,omitempty"`
	AgentVersion string `json:"gen_ai.agent.version,omitempty"`
	// SessionID is the agent session (gen_ai.conversation.id).
	SessionID string `json:"gen_ai.conversation.id"`
	// Operation is gen_ai.operation.name; derived from Kind when empty.
	Operation  string          `json:"gen_ai.operation.name,omitempty"`
	ToolName   string          `json:"gen_ai.tool.name,omitempty"`
	ToolCallID string          `json:"gen_ai.tool.call.id,omitempty"`
	Arguments  json.RawMessage `json:"gen_ai.tool.call.arguments,omitempty"`
	Result     string          `json:"gen_ai.tool.call.result,omitempty"`
	Model      string          `json:"gen_ai.request.model,omitempty"`
	// Provider is gen_ai.provider.name (openai, anthropic, aws.bedrock, …).
	Provider string `json:"gen_ai.provider.name,omitempty"`

	// RootAgentID is the top of the delegation lineage; the Kafka record key.
	// Defaults to AgentID when the agent is not a sub-agent.
	RootAgentID     string `json:"tether.root_agent.id,omitempty"`
	ParentAgentID   string `json:"tether.parent_agent.id,omitempty"`
	ParentSessionID string `json:"tether.parent_session.id,omitempty"`
	// ChildAgentID and ChildSessionID name the sub-agent an agent_spawn creates.
	ChildAgentID   string `json:"tether.child_agent.id,omitempty"`
	ChildSessionID string `json:"tether.child_session.id,omitempty"`
	// Principal is the human who authorised the root agent.
	Principal           string     `json:"tether.principal,omitempty"`
	PrincipalSessionEnd *time.Time `json:"tether.principal.session_end,omitempty"`
	CredentialID        string     `json:"tether.credential.id,omitempty"`
	CredentialExpiry    *time.Time `json:"tether.credential.expires_at,omitempty"`
	Autonomy            Autonomy   `json:"tether.autonomy_level,omitempty"`
	Step                int        `json:"tether.step"`
	Role                string     `json:"tether.role,omitempty"`
	Content             string     `json:"tether.content,omitempty"`
	DataClasses         []string   `json:"tether.data_classes,omitempty"`
	Resource            string     `json:"tether.resource,omitempty"`
	Destination         string     `json:"tether.destination,omitempty"`
	Error               string     `json:"tether.error,omitempty"`
	Bytes               int64      `json:"tether.bytes,omitempty"`

	// ErrorType is the OpenTelemetry error.type of a failed operation (an
	// exception class or error code); a tool result with one failed.
	ErrorType string `json:"error.type,omitempty"`
}

// Root returns the root agent id of the event's lineage.
func (e *Event) Root() string {
	if e.RootAgentID != "" {
		return e.RootAgentID
	}
	return e.AgentID
}

// Key is the Kafka record key for the event: its root agent id, so that one
// agent's whole delegation lineage lands on one partition.
func (e *Event) Key() []byte { return []byte(e.Root()) }
