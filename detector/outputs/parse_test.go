package outputs

import "testing"

// stringEndBytewise is stringEnd as it was: one byte at a time, a
// backslash skipping the next byte.
func stringEndBytewise(text string, i int) (int, bool) {
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(text), false
}

// checkStringEnd compares stringEnd with the byte-wise scan from every
// quote of text.
func checkStringEnd(t *testing.T, text string) {
	for i := 0; i < len(text); i++ {
		if text[i] != '"' {
			continue
		}
		gotEnd, gotOK := stringEnd(text, i)
		wantEnd, wantOK := stringEndBytewise(text, i)
		if gotEnd != wantEnd || gotOK != wantOK {
			t.Fatalf("stringEnd(%q, %d) = %d, %v, want %d, %v", text, i, gotEnd, gotOK, wantEnd, wantOK)
		}
	}
}

func TestStringEnd(t *testing.T) {
	for _, s := range []string{
		`"plain"`, `"a\"b"`, `"a\\"b"`, `"a\\\"b"`, `"a\\\\"`, `"\"`, `"\\`, `"`, `""`,
		`{"k":"v\\\"x\"","l":["\\",  "\""]}`, `"unterminated \" still`, `"a\nb\u0022c"`,
	} {
		checkStringEnd(t, s)
	}
}

func FuzzStringEnd(f *testing.F) {
	f.Add(`{"k":"v\\\"x\"","l":["\\",  "\""]}`)
	f.Fuzz(checkStringEnd)
}
