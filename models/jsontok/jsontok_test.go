package jsontok

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// tokens scans b and returns its tokens rendered one per line, and whether
// the scan reached End.
func tokens(b []byte, maxDepth int) ([]string, bool, int) {
	var s Scanner
	s.MaxDepth = maxDepth
	s.Reset(b)
	var out []string
	for {
		t := s.Next()
		switch t.Kind {
		case End:
			return out, true, t.Start
		case Invalid:
			return out, false, t.Start
		case Key, String:
			v, _, _, _ := AppendString(nil, b, t.Start-1)
			out = append(out, kindName[t.Kind]+" "+string(v))
		default:
			out = append(out, kindName[t.Kind]+" "+string(s.Bytes(t)))
		}
	}
}

var kindName = map[Kind]string{ObjectStart: "{", ObjectEnd: "}", ArrayStart: "[", ArrayEnd: "]",
	Key: "key", String: "str", Number: "num", True: "lit", False: "lit", Null: "lit"}

func TestScanner(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // tokens joined by "|"; "" with ok false: an error
		ok       bool
		maxDepth int
	}{
		{"object", `{"a":1,"b":[true,false,null],"c":{"d":"x"}}`, `{ {|key a|num 1|key b|[ [|lit true|lit false|lit null|] ]|key c|{ {|key d|str x|} }|} }`, true, 0},
		{"whitespace", " \t\n{ \"a\" : [ 1 , 2 ] } ", `{ {|key a|[ [|num 1|num 2|] ]|} }`, true, 0},
		{"empty containers", `[{},[],""]`, `[ [|{ {|} }|[ [|] ]|str |] ]`, true, 0},
		{"escapes", `["a\"b\\c\/d\b\f\n\r\t","\u00e9\ud83d\ude00","\ud800x"]`, "[ [|str a\"b\\c/d\b\f\n\r\t|str é😀|str \uFFFDx|] ]", true, 0},
		{"scalar", `-12.5e+3`, `num -12.5e+3`, true, 0},
		{"trailing bytes not read", `{"a":1} junk`, `{ {|key a|num 1|} }`, true, 0},
		{"depth within limit", `[[1]]`, `[ [|[ [|num 1|] ]|] ]`, true, 2},
		{"depth over limit", `[[[1]]]`, ``, false, 2},
		{"trailing comma object", `{"a":1,}`, ``, false, 0},
		{"trailing comma array", `[1,]`, ``, false, 0},
		{"mismatched bracket", `{"a":[1}`, ``, false, 0},
		{"missing colon", `{"a" 1}`, ``, false, 0},
		{"bare key", `{a:1}`, ``, false, 0},
		{"leading zero", `01`, `num 0`, true, 0}, // the value is 0; "1" follows it, unread
		{"bad number", `-`, ``, false, 0},
		{"bad fraction", `1.`, ``, false, 0},
		{"bad exponent", `1e+`, ``, false, 0},
		{"control in string", "\"a\x01\"", ``, false, 0},
		{"bad escape", `"\x"`, ``, false, 0},
		{"short unicode escape", `"\u12"`, ``, false, 0},
		{"unterminated", `"abc`, ``, false, 0},
		{"truncated literal", `tru`, ``, false, 0},
		{"empty", ``, ``, false, 0},
		{"only space", `   `, ``, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, _ := tokens([]byte(tc.in), tc.maxDepth)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (tokens %q)", ok, tc.ok, got)
			}
			if ok && strings.Join(got, "|") != tc.want {
				t.Errorf("tokens\n got %q\nwant %q", strings.Join(got, "|"), tc.want)
			}
		})
	}
}

func TestStringFlags(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Flags
	}{
		{`"plain ascii text that is longer than eight bytes"`, 0},
		{`"esc\n"`, Escaped},
		{`"héllo wörld, a longer run of text"`, NonASCII},
		{"\"bad \xff byte\"", NonASCII | BadUTF8},
		{"\"overlong \xc0\xaf\"", NonASCII | BadUTF8},
		{"\"truncated \xe2\x82\"", NonASCII | BadUTF8},
		{"\"surrogate half \xed\xa0\x80\"", NonASCII | BadUTF8},
	} {
		end, f, ok := ScanString([]byte(tc.in), 0)
		if !ok || end != len(tc.in) || f != tc.want {
			t.Errorf("ScanString(%q) = %d, %b, %v; want %d, %b, true", tc.in, end, f, ok, len(tc.in), tc.want)
		}
	}
}

// TestPlainRun checks the eight-byte skipping against a byte loop at every
// alignment of every special byte.
func TestPlainRun(t *testing.T) {
	for _, c := range []byte{'"', '\\', 0, 0x1f, 0x80, 0xff, 0xc3} {
		for n := range 40 {
			for start := range 9 {
				b := bytes.Repeat([]byte{'a'}, n+start+9)
				b[n+start] = c
				want := n + start
				if got := plainRun(b, start); got != want {
					t.Fatalf("byte %#x at %d, from %d: got %d", c, want, start, got)
				}
			}
		}
	}
	// neighbours of the special bytes' values are plain
	b := []byte(" !#$%&'()*+,-./[]^_`{|}~\x7f0123456789")
	if got := plainRun(b, 0); got != len(b) {
		t.Errorf("plain bytes stop at %d (%q)", got, b[got:])
	}
}

// checkAgainstStdlib is the differential property FuzzScanner checks: the
// scanner accepts a prefix value exactly when encoding/json does, and
// every string it returns decodes to what json.Unmarshal gives.
func checkAgainstStdlib(t *testing.T, b []byte) {
	var s Scanner
	s.Reset(b)
	for {
		tok := s.Next()
		switch tok.Kind {
		case Invalid:
			if json.Valid(b) {
				t.Fatalf("scanner refuses %q at byte %d, encoding/json accepts it", b, tok.Start)
			}
			return
		case End:
			if !json.Valid(b[:tok.Start]) {
				// a top-level number or literal followed by a letter or digit
				// ("0x", "truex") is the one case a prefix differs
				t.Fatalf("scanner accepts %q, encoding/json refuses the prefix", b[:tok.Start])
			}
			if len(bytes.TrimLeft(b[tok.Start:], " \t\r\n")) == 0 != json.Valid(b) {
				t.Fatalf("scanner and encoding/json disagree on %q", b)
			}
			return
		case Key, String:
			got, end, f, ok := AppendString(nil, b, tok.Start-1)
			if !ok || end != tok.End+1 || f != tok.Flags {
				t.Fatalf("string %q: AppendString ok %v, end %d, flags %b; ScanString end %d, flags %b", b[tok.Start-1:tok.End+1], ok, end, f, tok.End+1, tok.Flags)
			}
			if n := StringEnd(b, tok.Start-1); n != tok.End-tok.Start {
				t.Fatalf("string %q: StringEnd %d, want %d", b[tok.Start-1:tok.End+1], n, tok.End-tok.Start)
			}
			valid := f&BadUTF8 == 0
			var want string
			if err := json.Unmarshal(b[tok.Start-1:tok.End+1], &want); err != nil {
				t.Fatalf("string %q: encoding/json: %v", b[tok.Start-1:tok.End+1], err)
			}
			if string(got) != want {
				t.Fatalf("string %q: got %q, encoding/json %q", b[tok.Start-1:tok.End+1], got, want)
			}
			if valid != utf8.Valid(s.Bytes(tok)) || valid != (tok.Flags&BadUTF8 == 0) {
				t.Fatalf("string %q: valid %v, flags %b", s.Bytes(tok), valid, tok.Flags)
			}
			if (tok.Flags&Escaped != 0) != bytes.Contains(s.Bytes(tok), []byte{'\\'}) {
				t.Fatalf("string %q: flags %b", s.Bytes(tok), tok.Flags)
			}
		}
	}
}

func TestAgainstStdlib(t *testing.T) {
	for _, s := range fuzzSeeds {
		checkAgainstStdlib(t, []byte(s))
	}
}

var fuzzSeeds = []string{
	`{"a":1,"b":[true,false,null],"c":{"d":"x"}}`,
	`{"to":"a@b.example","body":"Hello,\nplease \"send\" it \u00e9 \ud83d\ude00"}`,
	`[1,-0,0.5,1e10,-2.5E-3]`, `"\ud800"`, `"\udc00\ud800"`, "\"\xff\"", `{"a":{"b":{"c":[[[]]]}}}`,
	`{"a" : 1 , }`, `[1 2]`, `0x`, `truex`, `{"a":1}x`, ` "x" `, `nul`, `-`, `[`, `{"a`,
}

func FuzzScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9' || b[0] == 't' || b[0] == 'f' || b[0] == 'n') {
			// a top-level scalar ends where its literal does: encoding/json
			// also needs the byte after it to be a delimiter (see
			// checkAgainstStdlib); arguments and records are objects.
			b = append([]byte{'['}, append(b, ']')...)
		}
		checkAgainstStdlib(t, b)
	})
}

func BenchmarkScanString(b *testing.B) {
	for _, n := range []int{16, 1 << 10, 64 << 10} {
		s := []byte(`"` + strings.Repeat("plain prose with, punctuation. ", n/31+1)[:n] + `"`)
		b.Run("bytes="+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := ScanString(s, 0); !ok {
					b.Fatal("not a string")
				}
			}
		})
	}
}
