// Package control carries Tether's containment commands over the Kafka
// control topic.
//
// The daemon side is Publisher, a sink.Writer that publishes each batch's
// models.ContainmentCommand values as JSON records keyed by agent id, with
// the command id in the "tether-command-id" header. The consumer side is
// Consumer, a small library for automated containment consumers (an IAM
// revoker, a session gateway, an approval queue): it decodes commands,
// verifies each command (Ed25519 signature by a trusted key, known action,
// content-derived id, headers, expiry) and refuses, counts and acknowledges
// forgeries, drops replays by command id, applies commands to a State an
// enforcement point consults, calls a handler, acknowledges the outcome on
// the ack topic, and commits offsets only after the handler succeeded.
//
// Delivery is at least once: a batch that the daemon retries, or a consumer
// that restarts before committing, sees a command again. Command ids are
// deterministic, so consumers de-duplicate (Consumer does so within a
// bounded window) and handlers should be idempotent per command id.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// DefaultTopic is the control topic used when none is configured.
const DefaultTopic = "tether.control"

// Record headers set on every command record.
const (
	// HeaderCommandID carries models.ContainmentCommand.ID, so consumers can
	// de-duplicate without decoding the value.
	HeaderCommandID = "tether-command-id"
	// HeaderAction carries the command's action (e.g. "suspend_session"), so
	// consumers can filter without decoding the value.
	HeaderAction = "tether-action"
	// HeaderContentType is "application/json".
	HeaderContentType = "content-type"
	// HeaderAlertedAt carries when the daemon started publishing the
	// command (RFC 3339, nanoseconds): its findings were durable then.
	// Informational (not signed); acks copy it for time-to-contain.
	HeaderAlertedAt = "tether-alerted-at"
)

// DefaultPublishTimeout bounds one Publisher.Write when the broker does not
// answer and the caller's context has no earlier deadline.
const DefaultPublishTimeout = sink.DefaultPublishTimeout

// ErrRejected is wrapped when the broker permanently refuses a command record
// (too large, invalid, not authorised): retrying the same batch will not help.
// Transient failures wrap sink.ErrUnavailable instead.
var ErrRejected = errors.New("control command rejected by broker")

// Publisher publishes containment commands to the control topic. It
// implements sink.Writer. It does not own its client: the daemon shares one
// kgo.Client between ingest and publishing and closes it itself, so
// Publisher deliberately has no Close method.
//
// Records are produced synchronously through sink.KafkaPublisher (whose
// Timeout and Topic it has).
type Publisher struct {
	sink.KafkaPublisher
	// Signer signs every command; nil publishes unsigned commands, which
	// consumers refuse unless configured with AllowUnsigned (the daemon
	// only does so with `control.signing: disabled`).
	Signer *Signer
}

// NewPublisher returns a Publisher writing to topic (DefaultTopic when empty)
// through client.
func NewPublisher(client *kgo.Client, topic string) *Publisher {
	if topic == "" {
		topic = DefaultTopic
	}
	return &Publisher{KafkaPublisher: sink.NewKafkaPublisher(client, topic, "control", ErrRejected, func(r *kgo.Record) string {
		return fmt.Sprintf("command %s (agent %s, action %s)", sink.HeaderValue(r, HeaderCommandID), string(r.Key), sink.HeaderValue(r, HeaderAction))
	})}
}

// Write publishes b.Commands, in order, and returns once every record is
// acknowledged by the broker. Events and findings in b are ignored. A batch
// without commands is a no-op. On failure the error wraps sink.ErrUnavailable
// (broker unreachable or not accepting writes; retry later), ErrRejected
// (permanent refusal), or the context's error when ctx was cancelled; some
// commands of the batch may already be published, which is harmless because
// consumers de-duplicate by command id.
func (p *Publisher) Write(ctx context.Context, b *sink.Batch) error {
	if b == nil || len(b.Commands) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, 0, len(b.Commands))
	alerted := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	for i := range b.Commands {
		r, err := p.record(b.Commands[i])
		if err != nil {
			return err
		}
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderAlertedAt, Value: alerted})
		recs = append(recs, r)
	}
	return p.Publish(ctx, recs)
}

// record encodes one command. A command without an ID gets its version,
// scope and deterministic ID, and is signed when the Publisher has a Signer
// (on a copy; the batch is not modified).
func (p *Publisher) record(c models.ContainmentCommand) (*kgo.Record, error) {
	if c.ID == "" {
		c.SetID()
	}
	if p.Signer != nil {
		p.Signer.Sign(&c)
	}
	v, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("control: encode command %s (agent %s): %w", c.ID, c.AgentID, err)
	}
	return &kgo.Record{
		Key:   []byte(c.AgentID),
		Value: v,
		Headers: []kgo.RecordHeader{
			{Key: HeaderCommandID, Value: []byte(c.ID)},
			{Key: HeaderAction, Value: []byte(c.Action)},
			{Key: HeaderContentType, Value: []byte("application/json")},
		},
	}, nil
}
