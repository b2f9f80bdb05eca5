package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
)

// Dead-letter record headers. The record's key and value are the original
// record's, byte for byte — except a value larger than
// Options.DeadLetterMaxBytes, which is cut to that size so that the dead
// letter fits the broker's message limit (an uncut copy would be refused
// and stall the consumer); the truncation headers then give the original
// size and SHA-256, and the source headers say where the original is. The
// original record's headers follow these, except that any whose key starts
// with HeaderPrefix (in any letter case) is renamed to start with
// HeaderOrigPrefix instead: a producer cannot forge the reason, class or
// source of its own dead letter, and nothing it sent is lost.
const (
	HeaderPrefix          = "tether-dlq-"                 // prefix of the headers Tether sets
	HeaderOrigPrefix      = "tether-orig-dlq-"            // replaces HeaderPrefix on the original's headers
	HeaderTruncated       = "tether-dlq-truncated"        // "true" when the value was cut
	HeaderOriginalBytes   = "tether-dlq-original-bytes"   // the original value's size, decimal
	HeaderOriginalSHA256  = "tether-dlq-original-sha256"  // hex SHA-256 of the original value
	HeaderReason          = "tether-dlq-reason"           // the full error text
	HeaderReasonClass     = "tether-dlq-class"            // models.ReasonClass of the error
	HeaderSourceTopic     = "tether-dlq-source-topic"     // topic of the original record
	HeaderSourcePartition = "tether-dlq-source-partition" // its partition, decimal
	HeaderSourceOffset    = "tether-dlq-source-offset"    // its offset, decimal
	HeaderSourceTimestamp = "tether-dlq-source-timestamp" // its broker timestamp, RFC 3339
)

// deadLetter builds the dead-letter record for r, which failed with err.
func (c *Consumer) deadLetter(r *kgo.Record, err error) *kgo.Record {
	class := models.ReasonClass(err)
	c.m.observeDeadLetter(class)
	c.log.Warn().Err(err).Str("topic", r.Topic).Int32("partition", r.Partition).Int64("offset", r.Offset).
		Str("class", class).Msg("record dead-lettered")
	h := make([]kgo.RecordHeader, 0, 6+len(r.Headers))
	h = append(h,
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderReasonClass, Value: []byte(class)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderSourceTimestamp, Value: []byte(r.Timestamp.UTC().Format(time.RFC3339Nano))},
	)
	value := r.Value
	if max := c.opts.DeadLetterMaxBytes; max > 0 && len(value) > max {
		sum := sha256.Sum256(value)
		h = append(h,
			kgo.RecordHeader{Key: HeaderTruncated, Value: []byte("true")},
			kgo.RecordHeader{Key: HeaderOriginalBytes, Value: []byte(strconv.Itoa(len(value)))},
			kgo.RecordHeader{Key: HeaderOriginalSHA256, Value: []byte(hex.EncodeToString(sum[:]))},
		)
		value = value[:max]
	}
	for _, oh := range r.Headers {
		if len(oh.Key) >= len(HeaderPrefix) && strings.EqualFold(oh.Key[:len(HeaderPrefix)], HeaderPrefix) {
			oh.Key = HeaderOrigPrefix + oh.Key[len(HeaderPrefix):]
		}
		h = append(h, oh)
	}
	return &kgo.Record{Topic: c.opts.DeadLetterTopic, Key: r.Key, Value: value, Headers: h}
}
