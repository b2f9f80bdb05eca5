package models

import (
	"fmt"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Limits of the event wire format, documented in schema/event.v1.json.
const (
	// MaxIDBytes bounds every id field (event, agent, session, tool, tool
	// call, lineage, credential, principal) and every data class, in bytes
	// of UTF-8.
	MaxIDBytes = 256
	// MaxNameBytes bounds the single-line descriptive fields (agent name and
	// version, model, resource, destination).
	MaxNameBytes = 2048
	// MaxDataClasses bounds the elements of tether.data_classes.
	MaxDataClasses = 64
	// MaxDepth bounds the nesting of objects and arrays in a record, the
	// event object itself counting as one level (tool arguments may nest
	// MaxDepth-1 levels).
	MaxDepth = 32
)

// idChar reports whether r may appear in an id: printable ASCII other than
// space, or a Unicode letter, mark or digit. Controls (NUL included),
// whitespace, format characters (bidirectional overrides, zero-width
// joiners), symbols (U+FFFD, the trace of a lossy conversion) and private
// use characters are refused: they make ids that print alike but differ, or
// break the logs, queries and hashes ids end up in.
func idChar(r rune) bool {
	if r < utf8.RuneSelf {
		return r > ' ' && r < 0x7f
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)
}

// idASCII marks the ASCII bytes allowed in ids (printable, not space).
var idASCII = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = true
	}
	return t
}()

// checkID validates the id field named field (event id for context; empty
// when checking the event id itself). An empty optional id is absent and
// valid; required ids are checked for presence before.
func checkID(field, s, eventID string) error {
	if len(s) <= MaxIDBytes && asciiID(s) {
		return nil // the common case, inlined
	}
	return checkIDSlow(field, s, eventID)
}

// asciiID reports whether s is all printable ASCII without space.
func asciiID(s string) bool {
	for i := 0; i < len(s); i++ {
		if !idASCII[s[i]] {
			return false
		}
	}
	return true
}

func checkIDSlow(field, s, eventID string) error {
	if len(s) > MaxIDBytes {
		return fmt.Errorf("%w: %s is %d bytes, limit %d%s", ErrInvalid, field, len(s), MaxIDBytes, ofEvent(eventID))
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !idASCII[c] {
				return fmt.Errorf("%w: %s has character %q at byte %d (ids are printable ASCII without space, or Unicode letters, marks and digits)%s",
					ErrInvalid, field, rune(c), i, ofEvent(eventID))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !idChar(r) {
			return fmt.Errorf("%w: %s has character %q at byte %d (ids are printable ASCII without space, or Unicode letters, marks and digits)%s",
				ErrInvalid, field, r, i, ofEvent(eventID))
		}
		i += size
	}
	return nil
}

// checkName validates a single-line descriptive field: at most
// MaxNameBytes of valid UTF-8 without control characters.
func checkName(field, s, eventID string) error {
	if len(s) <= MaxNameBytes && asciiName(s) {
		return nil // the common case, inlined
	}
	return checkNameSlow(field, s, eventID)
}

// nameASCII marks the ASCII bytes allowed in names (printable and space).
var nameASCII = func() (t [256]bool) {
	for c := ' '; c <= '~'; c++ {
		t[c] = true
	}
	return t
}()

// asciiName reports whether s is all printable ASCII (space included).
func asciiName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nameASCII[s[i]] {
			return false
		}
	}
	return true
}

func checkNameSlow(field, s, eventID string) error {
	if len(s) > MaxNameBytes {
		return fmt.Errorf("%w: %s is %d bytes, limit %d%s", ErrInvalid, field, len(s), MaxNameBytes, ofEvent(eventID))
	}
	if err := checkText(field, s, eventID); err != nil {
		return err
	}
	// Control characters are C0 and DEL (single bytes) and C1 (U+0080 to
	// U+009F, encoded 0xC2 0x80–0x9F) in valid UTF-8.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || (c == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fmt.Errorf("%w: %s has control character %q at byte %d%s", ErrInvalid, field, r, i, ofEvent(eventID))
		}
	}
	return nil
}

// checkText validates a free-text field: valid UTF-8 (anything else is
// free; the record size bounds it).
func checkText(field, s, eventID string) error {
	if utf8.ValidString(s) {
		return nil
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("%w: %s has invalid UTF-8 at byte %d%s", ErrInvalid, field, i, ofEvent(eventID))
		}
		i += size
	}
	return nil
}

func ofEvent(id string) string {
	if id == "" {
		return ""
	}
	return " (event " + strconv.Quote(clip(id, 64)) + ")"
}

// clip cuts s to at most n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Valid values of the enumerated text fields (besides empty).
var (
	validRoles      = []string{RoleSystem, RoleUser, RoleAssistant, RoleTool}
	validOperations = []string{"execute_tool", "create_agent", "invoke_agent", "chat"}
)

// checkFields applies the id, name, text and enumeration rules to ev.
// decoded says ev came from Decode, whose strings are valid UTF-8 already;
// known marks fields the decoder found valid (see decodeEventFast).
func checkFields(ev *Event, decoded bool, known knownValid) error {
	// The event id first: every later message quotes it.
	if err := checkID("event_id", ev.ID, ""); err != nil {
		return err
	}
	id := ev.ID
	for _, f := range [...]struct {
		name, v string
		bit     uint64
	}{
		{"gen_ai.agent.id", ev.AgentID, bitAgentID},
		{"gen_ai.conversation.id", ev.SessionID, bitSessionID},
		{"gen_ai.tool.name", ev.ToolName, bitToolName},
		{"gen_ai.tool.call.id", ev.ToolCallID, 0},
		{"tether.root_agent.id", ev.RootAgentID, bitRootAgentID},
		{"tether.parent_agent.id", ev.ParentAgentID, bitParentAgentID},
		{"tether.parent_session.id", ev.ParentSessionID, bitParentSessionID},
		{"tether.child_agent.id", ev.ChildAgentID, bitChildAgentID},
		{"tether.child_session.id", ev.ChildSessionID, bitChildSessionID},
		{"tether.credential.id", ev.CredentialID, bitCredentialID},
		{"tether.principal", ev.Principal, bitPrincipal},
	} {
		if f.v == "" || known.ids&f.bit != 0 {
			continue // absent, or checked when decoded
		}
		if err := checkID(f.name, f.v, id); err != nil {
			return err
		}
	}
	for _, f := range [...]struct {
		name, v string
		bit     uint64
	}{
		{"gen_ai.agent.name", ev.AgentName, bitAgentName},
		{"gen_ai.agent.version", ev.AgentVersion, bitAgentVersion},
		{"gen_ai.request.model", ev.Model, bitModel},
		{"gen_ai.provider.name", ev.Provider, bitProvider},
		{"error.type", ev.ErrorType, bitErrorType},
		{"tether.resource", ev.Resource, 0},
		{"tether.destination", ev.Destination, 0},
	} {
		if f.v == "" || known.names&f.bit != 0 {
			continue
		}
		if err := checkName(f.name, f.v, id); err != nil {
			return err
		}
	}
	if !decoded {
		for _, f := range [...]struct{ name, v string }{
			{"gen_ai.tool.call.result", ev.Result},
			{"tether.content", ev.Content},
			{"tether.error", ev.Error},
		} {
			if err := checkText(f.name, f.v, id); err != nil {
				return err
			}
		}
	}
	if len(ev.DataClasses) > MaxDataClasses {
		return fmt.Errorf("%w: tether.data_classes has %d elements, limit %d%s", ErrInvalid, len(ev.DataClasses), MaxDataClasses, ofEvent(id))
	}
	for _, c := range ev.DataClasses {
		if c == "" {
			return fmt.Errorf("%w: tether.data_classes has an empty element%s", ErrInvalid, ofEvent(id))
		}
		if err := checkID("tether.data_classes element", c, id); err != nil {
			return err
		}
	}
	if ev.Role != "" && !slices.Contains(validRoles, ev.Role) {
		return fmt.Errorf("%w: tether.role %q (want system, user, assistant or tool)%s", ErrInvalid, clip(ev.Role, 64), ofEvent(id))
	}
	if ev.Operation != "" && !slices.Contains(validOperations, ev.Operation) {
		return fmt.Errorf("%w: gen_ai.operation.name %q (want invoke_agent, execute_tool, create_agent or chat)%s", ErrInvalid, clip(ev.Operation, 64), ofEvent(id))
	}
	return nil
}
