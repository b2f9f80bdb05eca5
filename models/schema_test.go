package models

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSchemaMatchesEvent keeps the JSON Schema and the Go type in step: every
// wire key of Event is described, every described key exists, and the
// required lists agree with the validator's.
func TestSchemaMatchesEvent(t *testing.T) {
	b, err := os.ReadFile("schema/event.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[Event]()
	var keys []string
	for i := range typ.NumField() {
		keys = append(keys, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	for _, k := range keys {
		if _, ok := s.Properties[k]; !ok {
			t.Errorf("schema lacks Event key %q", k)
		}
	}
	for k := range s.Properties {
		if !slices.Contains(keys, k) {
			t.Errorf("schema describes %q, which Event lacks", k)
		}
	}
	want := []string{"schema_version", "event_id", "kind", "time", "gen_ai.agent.id", "gen_ai.conversation.id"}
	if !slices.Equal(s.Required, want) {
		t.Errorf("schema required %v, want %v", s.Required, want)
	}
}

// TestSchemaIDPatternMatchesValidator: the id pattern and length in the
// schema accept exactly what checkID accepts, and the name pattern what
// checkName accepts, on ordinary and hostile samples.
func TestSchemaIDPatternMatchesValidator(t *testing.T) {
	b, err := os.ReadFile("schema/event.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]struct {
			Pattern   string `json:"pattern"`
			MaxLength int    `json:"maxLength"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	samples := []string{"a", "agent-1", "spiffe://corp.example/ns/x#1", "josé@corp.example", "代理", "e\u0301",
		"a b", "a\x00", "a\n", "a\t", "a\x7f", "a\u202e", "a\u200b", "a\uFFFD", "a😀", "a\u00a0", "a\u0085", "١٢٣", "Ⅻ", `a"b\c`}
	for _, tc := range []struct {
		key   string
		check func(string) error
	}{
		{"gen_ai.agent.id", func(v string) error { return checkID("id", v, "") }},
		{"tether.destination", func(v string) error { return checkName("name", v, "") }},
	} {
		p := s.Properties[tc.key]
		re, err := regexp.Compile(p.Pattern)
		if err != nil || p.MaxLength == 0 {
			t.Fatalf("%s: pattern %q (%v), maxLength %d", tc.key, p.Pattern, err, p.MaxLength)
		}
		for _, v := range samples {
			if schema, code := re.MatchString(v), tc.check(v) == nil; schema != code {
				t.Errorf("%s %q: schema accepts = %v, validator accepts = %v", tc.key, v, schema, code)
			}
		}
	}
}

// TestSchemaMatchesCommand keeps command.v1.json and ContainmentCommand in
// step: the same keys, the same actions, the version constant.
func TestSchemaMatchesCommand(t *testing.T) {
	b, err := os.ReadFile("schema/command.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[ContainmentCommand]()
	var keys []string
	for i := range typ.NumField() {
		keys = append(keys, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	for _, k := range keys {
		if _, ok := s.Properties[k]; !ok {
			t.Errorf("schema lacks ContainmentCommand key %q", k)
		}
	}
	for k := range s.Properties {
		if !slices.Contains(keys, k) {
			t.Errorf("schema describes %q, which ContainmentCommand lacks", k)
		}
	}
	var action struct {
		Enum []Action `json:"enum"`
	}
	if err := json.Unmarshal(s.Properties["action"], &action); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(action.Enum, Actions) {
		t.Errorf("schema actions %v, want %v", action.Enum, Actions)
	}
	var v struct {
		Const int `json:"const"`
	}
	if err := json.Unmarshal(s.Properties["v"], &v); err != nil || v.Const != CommandVersion {
		t.Errorf("schema version %d (%v), want %d", v.Const, err, CommandVersion)
	}
}
