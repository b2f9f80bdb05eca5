package models

import (
	"encoding/json"
	"os"
	"reflect"
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
