package ingest

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
)

func TestDecodeRecord(t *testing.T) {
	now := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
	c := &Consumer{opts: DefaultOptions(), dec: models.NewDecoder(models.DefaultDecodeOptions())}
	c.opts.Decode.MaxBytes = 4096
	native := `{"schema_version":1,"event_id":"e1","kind":"tool_call","time":"2026-02-02T10:00:00Z","gen_ai.agent.id":"a","gen_ai.conversation.id":"s","gen_ai.tool.name":"t","gen_ai.tool.call.arguments":{"x":1}`
	tests := []struct {
		name    string
		value   string
		ids     []string
		wantErr error
	}{
		{"native", native + `}`, []string{"e1"}, nil},
		{"native execute_tool with result", native + `,"gen_ai.tool.call.result":"ok","gen_ai.provider.name":"openai"}`, []string{"e1", "e1.result"}, nil},
		{"native execute_tool with error.type", native + `,"error.type":"TimeoutError"}`, []string{"e1", "e1.result"}, nil},
		{"native invalid", `{"schema_version":0}`, nil, models.ErrUnsupportedVersion},
		{"otlp json without GenAI spans", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0101010101010101","name":"GET","startTimeUnixNano":"1770026400000000000"}]}]}]}`, nil, nil},
		{"otlp json tool span", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0101010101010102","name":"execute_tool t","startTimeUnixNano":"1770026400000000000","endTimeUnixNano":"1770026401000000000","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}}]}]}]}]}`, []string{"0101010101010102.call", "0101010101010102.result"}, nil},
		{"otlp json bad id", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"zz"}]}]}]}`, nil, models.ErrMalformed},
		{"otlp proto garbage", "\x0a\xff\xff", nil, models.ErrMalformed},
		{"otlp span too old", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0101010101010102","startTimeUnixNano":"1000","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.output.messages","value":{"stringValue":"[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]"}}]}]}]}]}`, nil, models.ErrClockSkew},
		{"otlp oversized", `{"resourceSpans":[` + string(make([]byte, 5000)) + `]}`, nil, models.ErrOversized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, more, err := c.decodeRecord(&kgo.Record{Value: []byte(tt.value), Timestamp: now})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr != nil && err == nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			var ids []string
			if ev != nil {
				ids = append(ids, ev.ID)
			}
			for _, e := range more {
				ids = append(ids, e.ID)
			}
			if len(ids) != len(tt.ids) {
				t.Fatalf("ids %v, want %v", ids, tt.ids)
			}
			for i := range ids {
				if ids[i] != tt.ids[i] {
					t.Fatalf("ids %v, want %v", ids, tt.ids)
				}
			}
			if len(more) == 2 && tt.name != "otlp json tool span" {
				call, res := more[0], more[1]
				if call.Kind != models.KindToolCall || call.Result != "" || call.ErrorType != "" || len(call.Arguments) == 0 {
					t.Errorf("call %+v", call)
				}
				if res.Kind != models.KindToolResult || res.Arguments != nil || res.ToolName != "t" || (res.Result == "" && res.ErrorType == "") {
					t.Errorf("result %+v", res)
				}
			}
		})
	}
}
