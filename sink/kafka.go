package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
