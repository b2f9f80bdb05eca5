package control

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
)

// FuzzVerify checks that any record either verifies to a command that is
// complete, known, correctly identified and signed by the trusted key, or
// is refused with ErrRefused and a listed reason.
func FuzzVerify(f *testing.F) {
	valid, err := testPublisher(nil, "").record(command("agent-f", "s", models.ActionReview, "f"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(valid.Value), "", "null", "{}", `{"agent_id":"a","action":"review"}`, `[1,2]`, `{"command_id":5}`} {
		f.Add([]byte(seed), "", "")
	}
	f.Add(valid.Value, "header-id", "review")
	c := &Consumer{cfg: config{keys: map[string]ed25519.PublicKey{testSigner.KeyID(): testSigner.Public()}}}
	now := testIssued.Add(30 * time.Minute)
	f.Fuzz(func(t *testing.T, value []byte, headerID, headerAction string) {
		r := &kgo.Record{Topic: "t", Value: value}
		if headerID != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderCommandID, Value: []byte(headerID)})
		}
		if headerAction != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderAction, Value: []byte(headerAction)})
		}
		cmd, reason, err := c.verify(r, now)
		if err != nil {
			if !errors.Is(err, ErrRefused) || !slices.Contains(Reasons, reason) {
				t.Fatalf("refusal %v (reason %q) does not wrap ErrRefused with a listed reason", err, reason)
			}
			return
		}
		sig, _ := base64.StdEncoding.DecodeString(cmd.Signature)
		if cmd.AgentID == "" || !cmd.Action.Known() || cmd.ID != cmd.ComputeID() || !ed25519.Verify(testSigner.Public(), cmd.SigningBytes(), sig) || now.After(cmd.ExpiresAt) {
			t.Fatalf("verified command is incomplete, unknown, misidentified, unsigned or expired: %+v", cmd)
		}
	})
}

// FuzzDecodeAck checks that any ack record either decodes to an ack with a
// command id, a known status and a consumer, or fails with ErrInvalidAck.
func FuzzDecodeAck(f *testing.F) {
	for _, seed := range []string{`{"command_id":"c","status":"applied","consumer":"g","acked_at":"2026-01-01T00:00:00Z"}`, "", "null", "{}", `{"command_id":"c","status":"maybe","consumer":"g"}`, `[1]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		a, err := decodeAck(&kgo.Record{Topic: "acks", Value: value})
		if err != nil {
			if !errors.Is(err, ErrInvalidAck) {
				t.Fatalf("error %v does not wrap ErrInvalidAck", err)
			}
			return
		}
		if a.CommandID == "" || a.Consumer == "" || (a.Status != models.AckApplied && a.Status != models.AckRefused && a.Status != models.AckFailed) {
			t.Fatalf("decoded an incomplete ack %+v", a)
		}
	})
}
