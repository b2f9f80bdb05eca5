package control

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
)

// FuzzDecode checks that any record value either decodes to a command with
// the fields a consumer relies on, or fails with ErrInvalidCommand.
func FuzzDecode(f *testing.F) {
	valid, err := NewPublisher(nil, "").record(command("agent-f", "s", models.ActionReview, "f"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(valid.Value), "", "null", "{}", `{"agent_id":"a","action":"review"}`, `[1,2]`, `{"command_id":5}`} {
		f.Add([]byte(seed), "")
	}
	f.Add([]byte(`{"agent_id":"a","action":"review"}`), "header-id")
	f.Fuzz(func(t *testing.T, value []byte, headerID string) {
		r := &kgo.Record{Topic: "t", Value: value}
		if headerID != "" {
			r.Headers = []kgo.RecordHeader{{Key: HeaderCommandID, Value: []byte(headerID)}}
		}
		cmd, err := decode(r)
		if err != nil {
			if !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("decode error %v does not wrap ErrInvalidCommand", err)
			}
			return
		}
		if cmd.ID == "" || cmd.AgentID == "" || cmd.Action == "" {
			t.Fatalf("decoded command lacks id, agent or action: %+v", cmd)
		}
	})
}
