package flow

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// refLeaves is the reference: json.Decoder with UseNumber and a walk of the
// decoded value, object keys sorted.
func refLeaves(raw []byte) ([]leaf, bool) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	var out []leaf
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case string:
			out = append(out, leaf{path, x})
		case json.Number:
			out = append(out, leaf{path, string(x)})
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(x[k], p)
			}
		case []any:
			for _, e := range x {
				walk(e, path)
			}
		}
	}
	walk(v, "")
	return out, true
}

func checkArgs(t *testing.T, raw []byte) {
	want, wantOK := refLeaves(raw)
	var x extractor
	p := argParser{x: &x}
	got, ok := p.parseArgs(raw, nil)
	if ok != wantOK || (ok && !slices.Equal(got, want)) {
		t.Fatalf("parseArgs(%q) = %q, %v; want %q, %v", raw, got, ok, want, wantOK)
	}
}

var argSeeds = []string{
	`{"a":"x","b":{"c":"y","a":[1,"z",-2.5e3,true,null]}}`,
	`{"b":1,"a":2,"b":"dup"}`, `{"a":{"b":"1"},"a":"2"}`, `"top"`, `123abc`, `01`, `{"a":01}`,
	`{"a":"\u00e9\ud83d\ude00\ud800x\/\n\t\\\""}`, "{\"a\":\"\xff\xfe ok\"}", `{"a":"\ud800\u0041"}`,
	``, ` `, `{`, `{"a"}`, `[1,]`, `{"a":1,}`, `tru`, `truex`, `nullx`, `-`, `1.`, `1e`, `1e+5`, `-0.0E-1`,
	`{"a":"x"} trailing`, `[[["deep"]]]`, "{\"a\":\"ctl\x01\"}", `{"a":"\x"}`, `{"a":"\u12g4"}`, ` {"k" : [ "v" , 2 ] } `,
}

var deepSeeds = []string{
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + `"x"` + strings.Repeat("}", 10000),
}

func TestParseArgsMatchesEncodingJSON(t *testing.T) {
	for _, s := range append(argSeeds, deepSeeds...) {
		checkArgs(t, []byte(s))
	}
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range argSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkArgs(t, raw) })
}
