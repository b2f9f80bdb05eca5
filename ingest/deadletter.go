package ingest

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
)

// Dead-letter record headers. The record's key and value are the original
// record's, byte for byte; its original headers follow these.
const (
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
	h = append(h, r.Headers...)
	return &kgo.Record{Topic: c.opts.DeadLetterTopic, Key: r.Key, Value: r.Value, Headers: h}
}
