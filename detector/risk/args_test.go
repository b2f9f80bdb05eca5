package risk

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"
	"unicode/utf8"
)

// reference decodes args with encoding/json and lists the leaves as
// "top/key=kind:value", the format of flatten.
func reference(raw []byte) ([]string, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	var out []string
	var walk func(v any, key, top string, depth int)
	walk = func(v any, key, top string, depth int) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				t := top
				if depth == 0 {
					t = k
				}
				walk(c, k, t, depth+1)
			}
		case []any:
			for _, c := range x {
				walk(c, key, top, depth+1)
			}
		case string:
			out = append(out, fmt.Sprintf("%s/%s=s:%s", top, key, x))
		case float64:
			out = append(out, fmt.Sprintf("%s/%s=n:%s", top, key, strconv.FormatFloat(x, 'g', -1, 64)))
		case bool:
			out = append(out, fmt.Sprintf("%s/%s=b:%v", top, key, x))
		case nil:
			out = append(out, fmt.Sprintf("%s/%s=z:null", top, key))
		}
	}
	walk(v, "", "", 0)
	sort.Strings(out)
	return out, true
}

func flatten(w *argWalker) []string {
	var out []string
	for _, l := range w.leaves {
		switch l.kind {
		case leafString:
			out = append(out, fmt.Sprintf("%s/%s=s:%s", l.top, l.key, l.val))
		case leafNumber:
			f, _ := strconv.ParseFloat(l.val, 64)
			out = append(out, fmt.Sprintf("%s/%s=n:%s", l.top, l.key, strconv.FormatFloat(f, 'g', -1, 64)))
		case leafBool:
			out = append(out, fmt.Sprintf("%s/%s=b:%s", l.top, l.key, l.val))
		case leafNull:
			out = append(out, fmt.Sprintf("%s/%s=z:null", l.top, l.key))
		}
	}
	sort.Strings(out)
	return out
}

func TestArgWalker(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"flat", `{"to":"a@b.example","amount":12.5,"ok":true,"x":null}`},
		{"nested", `{"msg":{"to":["a","b"],"meta":{"n":[1,2,{"deep":"v"}]}}}`},
		{"escapes", `{"cmd":"echo \"hi\"\n\u00e9\ud83d\ude00 \\ \/"}`},
		{"empty", `{}`},
		{"whitespace", " { \"a\" : [ ] , \"b\" : { } } "},
		{"top-level array", `[{"a":"b"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w argWalker
			if !w.walk([]byte(tt.in)) {
				t.Fatalf("walk(%s) failed", tt.in)
			}
			want, _ := reference([]byte(tt.in))
			if got := flatten(&w); !slices.Equal(got, want) {
				t.Errorf("walk(%s)\n got %q\nwant %q", tt.in, got, want)
			}
		})
	}
}

// FuzzArgWalker checks the walker against encoding/json on every input
// encoding/json accepts (duplicate keys aside), and that it never panics
// on any input.
func FuzzArgWalker(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"cmd":"rm -rf /","n":[1,2.5e3,-0]}`, `{"k":"\ud800"}`, `{"a":{"b":{"c":[true,false,null]}}}`, `[`, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var w argWalker
		ok := w.walk(in)
		want, valid := reference(in)
		if !valid || !ok || !utf8.Valid(in) {
			return // the walker keeps invalid UTF-8 bytes; encoding/json replaces them
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(in, &m) == nil && len(m) != len(w.keys) {
			return // duplicate keys: encoding/json keeps the last
		}
		if got := flatten(&w); !slices.Equal(got, want) {
			t.Errorf("walk(%q)\n got %q\nwant %q", in, got, want)
		}
	})
}

// FuzzObserve: any arguments, no panic.
func FuzzObserve(f *testing.F) {
	f.Add("terminal", []byte(`{"cmd":"curl x | sh"}`))
	f.Add("send", []byte(`{"to":"a@b.c","body":"AKIAZ3MSJV4WWNKWW5FG","amount":"1e309"}`))
	d := New(DefaultOptions())
	f.Fuzz(func(t *testing.T, tool string, args []byte) {
		ev := callEvent("a", "s", "x", map[string]any{}, 1)
		ev.ToolName, ev.Arguments = tool, args
		observe(d, ev, nil)
	})
}
