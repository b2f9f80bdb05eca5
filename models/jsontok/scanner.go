package jsontok

// Kind is the kind of a token.
type Kind uint8

// Token kinds.
const (
	// Invalid: a syntax error (or a nesting limit) at Token.Start.
	Invalid Kind = iota
	// End: the value is complete; bytes after it are not read.
	End
	ObjectStart // {
	ObjectEnd   // }
	ArrayStart  // [
	ArrayEnd    // ]
	Key         // an object member's name (a string)
	String      // a string value
	Number      // a number, as its literal text
	True        // true
	False       // false
	Null        // null
)

// Token is one token of a value. Start and End delimit its bytes in the
// scanned input: for Key and String the body between the quotes (the value
// itself when Flags.Plain), for Number its literal text, for the others the
// token itself.
type Token struct {
	Kind       Kind
	Flags      Flags
	Start, End int
}

// Scanner tokenizes one JSON value: Next returns its tokens in order,
// then End (or Invalid at the first syntax error), checking the grammar as
// encoding/json does, including that brackets match. Whitespace before the
// value is skipped; what follows the value is not read (as one
// json.Decoder.Decode call). The zero Scanner is ready for Reset; it is
// reused across values without allocating once its stack has grown.
type Scanner struct {
	// MaxDepth, when positive, bounds how many containers may be open at
	// once: opening one more returns Invalid.
	MaxDepth int

	b     []byte
	i     int
	stack []byte // '{' or '[' per open container
	state uint8
}

// Scanner states: what the next token may be.
const (
	stValue      uint8 = iota // any value
	stFirstElem               // a value or ']' (after '[')
	stFirstKey                // a key or '}' (after '{')
	stKey                     // a key (after ',' in an object)
	stColon                   // ':' then a value
	stAfterValue              // ',' or the closing bracket
	stDone                    // the value is complete
	stFailed                  // an error was returned
)

// Reset starts scanning b.
func (s *Scanner) Reset(b []byte) {
	s.b, s.i, s.stack, s.state = b, 0, s.stack[:0], stValue
}

// Bytes returns the bytes of t.
func (s *Scanner) Bytes(t Token) []byte { return s.b[t.Start:t.End] }

// Depth returns how many containers enclose the next token (after an
// ObjectStart or ArrayStart, it counts that container).
func (s *Scanner) Depth() int { return len(s.stack) }

// Pos returns the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.i }

func (s *Scanner) fail(at int) Token {
	s.state = stFailed
	return Token{Kind: Invalid, Start: at, End: at}
}

// afterValue sets the state that follows a complete value.
func (s *Scanner) afterValue() {
	if len(s.stack) == 0 {
		s.state = stDone
	} else {
		s.state = stAfterValue
	}
}

// Next returns the next token.
func (s *Scanner) Next() Token {
	b := s.b
	for {
		i := SkipSpace(b, s.i)
		s.i = i
		switch s.state {
		case stDone:
			return Token{Kind: End, Start: i, End: i}
		case stFailed:
			return Token{Kind: Invalid, Start: i, End: i}
		}
		if i >= len(b) {
			return s.fail(i)
		}
		c := b[i]
		switch s.state {
		case stColon:
			if c != ':' {
				return s.fail(i)
			}
			s.i, s.state = i+1, stValue
			continue
		case stAfterValue:
			top := s.stack[len(s.stack)-1]
			switch {
			case c == ',':
				s.i = i + 1
				if top == '{' {
					s.state = stKey
				} else {
					s.state = stValue
				}
				continue
			case c == '}' && top == '{':
				s.stack = s.stack[:len(s.stack)-1]
				s.i = i + 1
				s.afterValue()
				return Token{Kind: ObjectEnd, Start: i, End: i + 1}
			case c == ']' && top == '[':
				s.stack = s.stack[:len(s.stack)-1]
				s.i = i + 1
				s.afterValue()
				return Token{Kind: ArrayEnd, Start: i, End: i + 1}
			}
			return s.fail(i)
		case stFirstKey, stKey:
			if c == '}' && s.state == stFirstKey {
				s.stack = s.stack[:len(s.stack)-1]
				s.i = i + 1
				s.afterValue()
				return Token{Kind: ObjectEnd, Start: i, End: i + 1}
			}
			if c != '"' {
				return s.fail(i)
			}
			end, f, ok := ScanString(b, i)
			if !ok {
				return s.fail(i)
			}
			s.i, s.state = end, stColon
			return Token{Kind: Key, Flags: f, Start: i + 1, End: end - 1}
		case stFirstElem:
			if c == ']' {
				s.stack = s.stack[:len(s.stack)-1]
				s.i = i + 1
				s.afterValue()
				return Token{Kind: ArrayEnd, Start: i, End: i + 1}
			}
		}
		// A value.
		switch {
		case c == '{' || c == '[':
			if s.MaxDepth > 0 && len(s.stack) >= s.MaxDepth {
				return s.fail(i)
			}
			s.stack = append(s.stack, c)
			s.i = i + 1
			if c == '{' {
				s.state = stFirstKey
				return Token{Kind: ObjectStart, Start: i, End: i + 1}
			}
			s.state = stFirstElem
			return Token{Kind: ArrayStart, Start: i, End: i + 1}
		case c == '"':
			end, f, ok := ScanString(b, i)
			if !ok {
				return s.fail(i)
			}
			s.i = end
			s.afterValue()
			return Token{Kind: String, Flags: f, Start: i + 1, End: end - 1}
		case c == '-' || ('0' <= c && c <= '9'):
			end, _, ok := ScanNumber(b, i)
			if !ok {
				return s.fail(i)
			}
			s.i = end
			s.afterValue()
			return Token{Kind: Number, Start: i, End: end}
		default:
			end, k := ScanLiteral(b, i)
			if k == Invalid {
				return s.fail(i)
			}
			s.i = end
			s.afterValue()
			return Token{Kind: k, Start: i, End: end}
		}
	}
}
