package ocsf

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/sink"
)

// DefaultTopic is the findings topic used when none is configured.
const DefaultTopic = "tether.findings.ocsf"

// Record headers set on every finding record.
const (
	// HeaderFindingID carries models.Finding.ID (also finding_info.uid), so
	// consumers can de-duplicate without decoding the value.
	HeaderFindingID = "tether-finding-id"
	// HeaderContentType is "application/json".
	HeaderContentType = "content-type"
)

// DefaultPublishTimeout bounds one Publisher.Write when the broker does not
// answer and the caller's context has no earlier deadline.
const DefaultPublishTimeout = sink.DefaultPublishTimeout

// ErrRejected is wrapped when the broker permanently refuses a finding record
// (too large, invalid, not authorised): retrying the same batch will not help.
// Transient failures wrap sink.ErrUnavailable instead.
var ErrRejected = errors.New("ocsf finding rejected by broker")

// Publisher publishes each batch's findings as OCSF Detection Finding JSON
// records, keyed by agent id, with the finding id in the "tether-finding-id"
// header. It implements sink.Writer. Like sink/control's Publisher it
// produces through sink.KafkaPublisher (whose Timeout and Topic it has) and
// does not own its client (the daemon shares one and closes it), and
// therefore has no Close method.
//
// Delivery is at least once: a retried batch publishes its findings again
// with the same finding_info.uid and metadata.uid, which SIEMs de-duplicate on.
type Publisher struct {
	sink.KafkaPublisher
	// MinSeverity drops findings whose Tether severity is below it. The
	// default, 0, publishes every finding including informational ones
	// (severity_id 1): SIEMs filter on severity_id themselves.
	MinSeverity uint8
	// ProductVersion fills metadata.product.version (omitted when empty);
	// NewPublisher sets it to BuildVersion().
	ProductVersion string
}

// NewPublisher returns a Publisher writing to topic (DefaultTopic when empty)
// through client.
func NewPublisher(client *kgo.Client, topic string) *Publisher {
	if topic == "" {
		topic = DefaultTopic
	}
	return &Publisher{
		KafkaPublisher: sink.NewKafkaPublisher(client, topic, "ocsf", ErrRejected, func(r *kgo.Record) string {
			return fmt.Sprintf("finding %s (agent %s)", sink.HeaderValue(r, HeaderFindingID), string(r.Key))
		}),
		ProductVersion: BuildVersion(),
	}
}

// Write publishes b.Findings (those at or above MinSeverity), in order, and
// returns once every record is acknowledged by the broker. Events and
// commands in b are ignored; a batch without findings is a no-op. On failure
// the error wraps sink.ErrUnavailable (broker unreachable or not accepting
// writes; retry later), ErrRejected (permanent refusal), or the context's
// error when ctx was cancelled; some findings may already be published,
// which is harmless because their ids are deterministic.
func (p *Publisher) Write(ctx context.Context, b *sink.Batch) error {
	if b == nil || len(b.Findings) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, 0, len(b.Findings))
	for i := range b.Findings {
		f := b.Findings[i]
		if f.Severity < p.MinSeverity {
			continue
		}
		if f.ID == "" {
			f.SetID() // on a copy; the batch is not modified
		}
		v, err := Marshal(f, Options{ProductVersion: p.ProductVersion, LogName: p.Topic()})
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{
			Key:   []byte(f.AgentID),
			Value: v,
			Headers: []kgo.RecordHeader{
				{Key: HeaderFindingID, Value: []byte(f.ID)},
				{Key: HeaderContentType, Value: []byte("application/json")},
			},
		})
	}
	return p.Publish(ctx, recs)
}
