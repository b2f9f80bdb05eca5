package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultPublishTimeout bounds one KafkaPublisher.Publish when the broker
// does not answer and the caller's context has no earlier deadline.
const DefaultPublishTimeout = 30 * time.Second

// KafkaPublisher produces the records of a Kafka-backed sink (the control
// topic, the OCSF findings topic) to its topic and returns once the broker
// has acknowledged every one, with the client's producer settings
// (franz-go's defaults, acks=all and an idempotent producer, are what these
// topics need): when Publish returns nil the records are durable and the
// caller may commit its input. A sink builds the records (key, value,
// headers); the topic, the timeout and the classification and wording of
// errors are shared here.
//
// It does not own its client: the daemon shares one kgo.Client between
// ingest and publishing and closes it itself.
type KafkaPublisher struct {
	client   *kgo.Client
	topic    string
	name     string
	rejected error
	describe func(*kgo.Record) string
	// Timeout bounds one Publish; zero means DefaultPublishTimeout,
	// negative means only the caller's context bounds it.
	Timeout time.Duration
}

// NewKafkaPublisher returns a publisher to topic through client for the
// sink called name (the prefix of its errors). rejected is the sink's
// sentinel for records the broker refuses for good; describe names a
// record in errors (e.g. "finding <id> (agent <key>)").
func NewKafkaPublisher(client *kgo.Client, topic, name string, rejected error, describe func(*kgo.Record) string) KafkaPublisher {
	return KafkaPublisher{client: client, topic: topic, name: name, rejected: rejected, describe: describe}
}

// Topic returns the topic the publisher writes to.
func (p *KafkaPublisher) Topic() string { return p.topic }

// Publish produces recs, in order, to the topic (it sets each record's
// Topic) and waits for the broker's acknowledgements. Nothing to publish is
// a no-op. On failure the error names the first failed record and wraps
// ErrUnavailable (broker unreachable or not accepting writes; retry
// later), the sink's rejected sentinel (permanent refusal), or the
// context's error when ctx was cancelled; some records may already be
// published, which is harmless because sinks' records carry deterministic
// ids their consumers de-duplicate on.
func (p *KafkaPublisher) Publish(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		r.Topic = p.topic
	}
	pctx := ctx
	if t := p.timeout(); t > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	results := p.client.ProduceSync(pctx, recs...)
	for _, res := range results {
		if res.Err == nil {
			continue
		}
		where := fmt.Sprintf("publish %s to topic %q", p.describe(res.Record), p.topic)
		if len(results) > 1 {
			where += fmt.Sprintf(" (batch of %d)", len(results))
		}
		return ClassifyProduce(ctx, p.name, where, p.rejected, res.Err)
	}
	return nil
}

func (p *KafkaPublisher) timeout() time.Duration {
	if p.Timeout == 0 {
		return DefaultPublishTimeout
	}
	return p.Timeout
}

// ClassifyProduce wraps err, a produce error of a Kafka-backed sink, with
// the sentinel that tells the caller what to do: rejected (the sink's own
// permanent-refusal sentinel) when the same record will be refused again,
// ErrUnavailable otherwise (retry later), and nothing extra when ctx was
// cancelled (the caller is shutting down; the broker may be fine). prefix
// names the sink, where the record.
func ClassifyProduce(ctx context.Context, prefix, where string, rejected, err error) error {
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %s: %w", prefix, where, err)
	case PermanentProduceError(err):
		return fmt.Errorf("%s: %s: %w: %w", prefix, where, rejected, err)
	default:
		return fmt.Errorf("%s: %s: %w: %w", prefix, where, ErrUnavailable, err)
	}
}

// PermanentProduceError reports whether a produce error will recur for the
// same record (too large, invalid, not authorised).
func PermanentProduceError(err error) bool {
	for _, e := range []error{
		kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord,
		kerr.InvalidTopicException, kerr.TopicAuthorizationFailed,
		kerr.ClusterAuthorizationFailed, kerr.SaslAuthenticationFailed,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// HeaderValue returns the value of r's first header named key, or "".
func HeaderValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
