package models

import (
	"encoding/json"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the fast path of Decoder.Decode: a single-pass scanner
// for the event wire format that fills an Event directly, without
// reflection and without encoding/json's separate validity scan.
//
// The fast path is a strict subset of json.Unmarshal: decodeEventFast either
// reports success, in which case json.Unmarshal would have succeeded on the
// same bytes and produced an identical Event, or it reports false, in which
// case the caller falls back to json.Unmarshal on the whole record (which then
// decides, and words the error). It reports false on every error and on every
// input whose encoding/json semantics it does not replicate:
//
//   - an object key containing an escape, a non-ASCII byte or an upper-case
//     ASCII letter that is not one of the canonical field names (encoding/json
//     matches field names case-insensitively, with Unicode folding);
//   - a null element in tether.data_classes (encoding/json reuses the
//     slice's backing array across duplicate keys);
//   - an integer of more than 18 digits;
//   - nesting deeper than fastMaxDepth.
//
// FuzzDecodeEquivalence in eventjson_test.go checks the subset property.

// fastMaxDepth bounds nesting on the fast path (encoding/json allows 10000;
// deeper records fall back to it).
const fastMaxDepth = 512

// decodeEventFast decodes record b into ev (which should be zero). It
// reports false, leaving ev in an unspecified state, when the record must go
// through json.Unmarshal instead.
func decodeEventFast(b []byte, ev *Event) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	for {
		// Key.
		if i >= len(b) || b[i] != '"' {
			return false
		}
		ks := i + 1
		j := ks
		plain := true // no escape, no non-ASCII byte, no upper-case letter
		for {
			if j >= len(b) {
				return false
			}
			c := b[j]
			if c == '"' {
				break
			}
			if c < 0x20 || c == '\\' || c >= 0x80 || ('A' <= c && c <= 'Z') {
				plain = false
				break
			}
			j++
		}
		if !plain {
			return false
		}
		key := b[ks:j]
		i = skipWS(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return false
		}
		var ok bool
		switch string(key) {
		case "schema_version":
			i, ok = fastInt(b, i, &ev.SchemaVersion)
		case "event_id":
			i, ok = fastString(b, i, &ev.ID)
		case "kind":
			s := string(ev.Kind)
			i, ok = fastSym(b, i, &s, kindSyms)
			ev.Kind = Kind(s)
		case "time":
			i, ok = fastTime(b, i, &ev.Time)
		case "gen_ai.agent.id":
			i, ok = fastString(b, i, &ev.AgentID)
		case "gen_ai.agent.name":
			i, ok = fastString(b, i, &ev.AgentName)
		case "gen_ai.agent.version":
			i, ok = fastString(b, i, &ev.AgentVersion)
		case "gen_ai.conversation.id":
			i, ok = fastString(b, i, &ev.SessionID)
		case "gen_ai.operation.name":
			i, ok = fastSym(b, i, &ev.Operation, operationSyms)
		case "gen_ai.tool.name":
			i, ok = fastString(b, i, &ev.ToolName)
		case "gen_ai.tool.call.id":
			i, ok = fastString(b, i, &ev.ToolCallID)
		case "gen_ai.tool.call.arguments":
			// json.RawMessage: the raw value (null included), copied.
			var end int
			end, ok = skipValue(b, i, 1)
			if ok {
				ev.Arguments = append(json.RawMessage(nil), b[i:end]...)
				i = end
			}
		case "gen_ai.tool.call.result":
			i, ok = fastString(b, i, &ev.Result)
		case "gen_ai.request.model":
			i, ok = fastString(b, i, &ev.Model)
		case "gen_ai.provider.name":
			i, ok = fastString(b, i, &ev.Provider)
		case "error.type":
			i, ok = fastString(b, i, &ev.ErrorType)
		case "tether.root_agent.id":
			i, ok = fastString(b, i, &ev.RootAgentID)
		case "tether.parent_agent.id":
			i, ok = fastString(b, i, &ev.ParentAgentID)
		case "tether.parent_session.id":
			i, ok = fastString(b, i, &ev.ParentSessionID)
		case "tether.child_agent.id":
			i, ok = fastString(b, i, &ev.ChildAgentID)
		case "tether.child_session.id":
			i, ok = fastString(b, i, &ev.ChildSessionID)
		case "tether.principal":
			i, ok = fastString(b, i, &ev.Principal)
		case "tether.principal.session_end":
			i, ok = fastTimePtr(b, i, &ev.PrincipalSessionEnd)
		case "tether.credential.id":
			i, ok = fastString(b, i, &ev.CredentialID)
		case "tether.credential.expires_at":
			i, ok = fastTimePtr(b, i, &ev.CredentialExpiry)
		case "tether.autonomy_level":
			s := string(ev.Autonomy)
			i, ok = fastSym(b, i, &s, autonomySyms)
			ev.Autonomy = Autonomy(s)
		case "tether.step":
			i, ok = fastInt(b, i, &ev.Step)
		case "tether.role":
			i, ok = fastSym(b, i, &ev.Role, roleSyms)
		case "tether.content":
			i, ok = fastString(b, i, &ev.Content)
		case "tether.data_classes":
			i, ok = fastStrings(b, i, &ev.DataClasses)
		case "tether.resource":
			i, ok = fastString(b, i, &ev.Resource)
		case "tether.destination":
			i, ok = fastString(b, i, &ev.Destination)
		case "tether.error":
			i, ok = fastString(b, i, &ev.Error)
		case "tether.bytes":
			i, ok = fastInt64(b, i, &ev.Bytes)
		default:
			// Unknown key, all lower-case ASCII without escapes: it cannot
			// fold-match a field name either (they are all lower-case
			// ASCII). Skip (and validate) its value.
			i, ok = skipValue(b, i, 1)
		}
		if !ok {
			return false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return skipWS(b, i+1) == len(b)
		default:
			return false
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func isNullAt(b []byte, i int) bool {
	return len(b)-i >= 4 && b[i] == 'n' && b[i+1] == 'u' && b[i+2] == 'l' && b[i+3] == 'l'
}

// fastString decodes a JSON string or null at b[i] into *dst (null leaves
// *dst unchanged, as encoding/json does) and returns the index after it.
func fastString(b []byte, i int, dst *string) (int, bool) {
	if b[i] == 'n' {
		return skipNull(b, i)
	}
	if b[i] != '"' {
		return i, false
	}
	s := i + 1
	for j := s; j < len(b); j++ {
		c := b[j]
		if c == '"' {
			*dst = string(b[s:j])
			return j + 1, true
		}
		if c < 0x20 || c == '\\' || c >= 0x80 {
			return unquoteSlow(b, s, dst)
		}
	}
	return i, false
}

func skipNull(b []byte, i int) (int, bool) {
	if isNullAt(b, i) {
		return i + 4, true
	}
	return i, false
}

// unquoteSlow decodes the body of a JSON string starting at b[s] (after the
// opening quote) exactly as encoding/json's unquote does: escapes decoded,
// invalid UTF-8 bytes and invalid surrogate escapes replaced with U+FFFD.
func unquoteSlow(b []byte, s int, dst *string) (int, bool) {
	out := make([]byte, 0, 64)
	j := s
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			*dst = string(out)
			return j + 1, true
		case c < 0x20:
			return j, false
		case c == '\\':
			if j+1 >= len(b) {
				return j, false
			}
			switch b[j+1] {
			case '"', '\\', '/':
				out = append(out, b[j+1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := getu4(b, j)
				if r < 0 {
					return j, false
				}
				if utf16.IsSurrogate(r) {
					r1 := getu4(b, j+6)
					if dec := utf16.DecodeRune(r, r1); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						j += 12
						continue
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				j += 6
				continue
			default:
				return j, false
			}
			j += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, b[j:j+size]...)
			}
			j += size
		}
	}
	return j, false
}

// getu4 decodes the \uXXXX escape at b[j:], or returns -1.
func getu4(b []byte, j int) rune {
	if j+6 > len(b) || b[j] != '\\' || b[j+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[j+2 : j+6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// fastInt64 decodes an integer or null at b[i]. Anything encoding/json
// would not store into an int64 (fractions, exponents, overflow) and
// integers of more than 18 digits report false.
func fastInt64(b []byte, i int, dst *int64) (int, bool) {
	if b[i] == 'n' {
		return skipNull(b, i)
	}
	j := i
	neg := false
	if b[j] == '-' {
		neg = true
		j++
	}
	if j >= len(b) || b[j] < '0' || b[j] > '9' {
		return i, false
	}
	var n int64
	start := j
	if b[j] == '0' {
		j++
	} else {
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			n = n*10 + int64(b[j]-'0')
			j++
		}
		if j-start > 18 {
			return i, false
		}
	}
	if j < len(b) {
		switch b[j] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return i, false
		}
	}
	if neg {
		n = -n
	}
	*dst = n
	return j, true
}

func fastInt(b []byte, i int, dst *int) (int, bool) {
	var n int64
	isNull := isNullAt(b, i)
	j, ok := fastInt64(b, i, &n)
	if !ok {
		return i, false
	}
	if !isNull {
		if int64(int(n)) != n {
			return i, false
		}
		*dst = int(n)
	}
	return j, true
}

// fastTime decodes a time the way encoding/json does: the raw literal,
// quotes included, goes to time.Time.UnmarshalJSON (which does not unescape).
func fastTime(b []byte, i int, dst *time.Time) (int, bool) {
	end, ok := skipValue(b, i, 1)
	if !ok {
		return i, false
	}
	if b[i] != '"' && b[i] != 'n' { // objects, arrays, numbers, booleans
		return i, false
	}
	if err := dst.UnmarshalJSON(b[i:end]); err != nil {
		return i, false
	}
	return end, true
}

// fastTimePtr: null sets *dst to nil; a string allocates a new time.
func fastTimePtr(b []byte, i int, dst **time.Time) (int, bool) {
	if b[i] == 'n' {
		j, ok := skipNull(b, i)
		if ok {
			*dst = nil
		}
		return j, ok
	}
	if b[i] != '"' {
		return i, false
	}
	t := new(time.Time)
	j, ok := fastTime(b, i, t)
	if !ok {
		return i, false
	}
	*dst = t
	return j, true
}

// fastStrings decodes an array of strings (null sets *dst to nil; [] gives
// an empty non-nil slice, as encoding/json does).
func fastStrings(b []byte, i int, dst *[]string) (int, bool) {
	if b[i] == 'n' {
		j, ok := skipNull(b, i)
		if ok {
			*dst = nil
		}
		return j, ok
	}
	if b[i] != '[' {
		return i, false
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == ']' {
		*dst = []string{}
		return j + 1, true
	}
	out := make([]string, 0, 4)
	for {
		if j >= len(b) || b[j] != '"' {
			return i, false // null elements, other types, syntax errors
		}
		var s string
		var ok bool
		j, ok = fastString(b, j, &s)
		if !ok {
			return i, false
		}
		out = append(out, s)
		j = skipWS(b, j)
		if j >= len(b) {
			return i, false
		}
		switch b[j] {
		case ',':
			j = skipWS(b, j+1)
		case ']':
			*dst = out
			return j + 1, true
		default:
			return i, false
		}
	}
}

// skipValue validates the JSON value at b[i] (no leading whitespace) and
// returns the index after it. depth is the nesting depth of the value.
func skipValue(b []byte, i int, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		if depth > fastMaxDepth {
			return i, false
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == '}' {
			return j + 1, true
		}
		for {
			if j >= len(b) || b[j] != '"' {
				return i, false
			}
			var ok bool
			if j, ok = skipString(b, j); !ok {
				return i, false
			}
			j = skipWS(b, j)
			if j >= len(b) || b[j] != ':' {
				return i, false
			}
			j = skipWS(b, j+1)
			if j, ok = skipValue(b, j, depth+1); !ok {
				return i, false
			}
			j = skipWS(b, j)
			if j >= len(b) {
				return i, false
			}
			switch b[j] {
			case ',':
				j = skipWS(b, j+1)
			case '}':
				return j + 1, true
			default:
				return i, false
			}
		}
	case c == '[':
		if depth > fastMaxDepth {
			return i, false
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == ']' {
			return j + 1, true
		}
		for {
			var ok bool
			if j, ok = skipValue(b, j, depth+1); !ok {
				return i, false
			}
			j = skipWS(b, j)
			if j >= len(b) {
				return i, false
			}
			switch b[j] {
			case ',':
				j = skipWS(b, j+1)
			case ']':
				return j + 1, true
			default:
				return i, false
			}
		}
	case c == 't':
		return skipLit(b, i, "true")
	case c == 'f':
		return skipLit(b, i, "false")
	case c == 'n':
		return skipLit(b, i, "null")
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(b, i)
	}
	return i, false
}

func skipLit(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// skipString validates the JSON string at b[i] (the opening quote).
func skipString(b []byte, i int) (int, bool) {
	j := i + 1
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return j + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if j+1 >= len(b) {
				return i, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if getu4(b, j) < 0 {
					return i, false
				}
				j += 6
			default:
				return i, false
			}
		default:
			j++
		}
	}
	return i, false
}

// skipNumber validates a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) (int, bool) {
	j := i
	if b[j] == '-' {
		j++
	}
	if j >= len(b) {
		return i, false
	}
	switch {
	case b[j] == '0':
		j++
	case '1' <= b[j] && b[j] <= '9':
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
	default:
		return i, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return i, false
		}
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return i, false
		}
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
	}
	return j, true
}

// Common values of enumerated fields: decoded into the package's constant
// strings instead of fresh allocations.
var (
	kindSyms = func() []string {
		s := make([]string, len(Kinds))
		for i, k := range Kinds {
			s[i] = string(k)
		}
		return s
	}()
	autonomySyms  = []string{string(AutonomyIntern), string(AutonomyJunior), string(AutonomySenior), string(AutonomyPrincipal)}
	roleSyms      = []string{RoleSystem, RoleUser, RoleAssistant, RoleTool}
	operationSyms = []string{"execute_tool", "create_agent", "invoke_agent", "chat"}
)

// fastSym is fastString for a field whose value is usually one of syms.
func fastSym(b []byte, i int, dst *string, syms []string) (int, bool) {
	if b[i] == '"' {
		for j := i + 1; j < len(b) && j-i <= 32; j++ {
			if c := b[j]; c == '"' {
				v := b[i+1 : j]
				for _, s := range syms {
					if string(v) == s {
						*dst = s
						return j + 1, true
					}
				}
				break
			} else if c < 0x20 || c == '\\' || c >= 0x80 {
				break
			}
		}
	}
	return fastString(b, i, dst)
}
