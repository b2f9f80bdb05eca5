package ingest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// spoofHeaders are what a hostile producer attaches to a record it knows
// will be dead-lettered, to forge the reason a SOC reads.
func spoofHeaders() []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: "origin", Value: []byte("test")},
		{Key: HeaderReason, Value: []byte("forged: all good")},
		{Key: "TETHER-DLQ-CLASS", Value: []byte("forged")},
		{Key: HeaderSourceOffset, Value: []byte("0")},
		{Key: HeaderTruncated, Value: []byte("true")},
		{Key: "tether-orig-dlq-reason", Value: []byte("already renamed")},
		{Key: "tether-dlq", Value: []byte("not the prefix")},
	}
}

// checkUnspoofed requires dl, the dead letter of a record carrying
// spoofHeaders, to hold exactly one of each Tether header, set by Tether,
// and every original header, renamed where it used Tether's prefix.
func checkUnspoofed(t *testing.T, dl *kgo.Record, wantClass string) {
	t.Helper()
	count := map[string]int{}
	for _, h := range dl.Headers {
		count[h.Key]++
	}
	for _, k := range []string{HeaderReason, HeaderReasonClass, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderSourceTimestamp} {
		if count[k] != 1 {
			t.Errorf("header %s appears %d times, want once; headers %v", k, count[k], dl.Headers)
		}
	}
	if count[HeaderTruncated] != 0 {
		t.Errorf("a small record's dead letter carries %s", HeaderTruncated)
	}
	if got := sink.HeaderValue(dl, HeaderReasonClass); got != wantClass {
		t.Errorf("class %q, want %q", got, wantClass)
	}
	if got := sink.HeaderValue(dl, HeaderReason); got == "" || got == "forged: all good" {
		t.Errorf("reason %q: empty or forged", got)
	}
	var orig []string
	for _, h := range dl.Headers {
		if h.Key == "origin" || h.Key == "tether-dlq" || len(h.Key) > len(HeaderOrigPrefix) && h.Key[:len(HeaderOrigPrefix)] == HeaderOrigPrefix {
			orig = append(orig, h.Key+"="+string(h.Value))
		}
	}
	want := []string{"origin=test", "tether-orig-dlq-reason=forged: all good", "tether-orig-dlq-CLASS=forged",
		"tether-orig-dlq-source-offset=0", "tether-orig-dlq-truncated=true", "tether-orig-dlq-reason=already renamed", "tether-dlq=not the prefix"}
	if !slices.Equal(orig, want) {
		t.Errorf("original headers\n got %q\nwant %q", orig, want)
	}
}

// TestDeadLetterHeadersNotSpoofable: incoming tether-dlq-* headers are
// renamed to tether-orig-dlq-*, so the dead letter's own headers are the
// only ones with Tether's prefix.
func TestDeadLetterHeadersNotSpoofable(t *testing.T) {
	c := &Consumer{opts: DefaultOptions(), m: NewMetrics()}
	dec := models.NewDecoder(models.DefaultDecodeOptions())
	_, err := dec.Decode([]byte(`{not json`), time.Time{})
	if err == nil {
		t.Fatal("decode accepted garbage")
	}
	r := &kgo.Record{Topic: "t", Partition: 1, Offset: 7, Value: []byte(`{not json`), Headers: spoofHeaders()}
	dl := c.deadLetter(r, err)
	checkUnspoofed(t, dl, "malformed")
	if got := sink.HeaderValue(dl, HeaderSourceOffset); got != "7" {
		t.Errorf("source offset %q, want 7", got)
	}
	if len(r.Headers) != len(spoofHeaders()) || r.Headers[1].Key != HeaderReason {
		t.Errorf("the original record's headers were modified: %v", r.Headers)
	}
}

// deadLetterSpoofRoundTrip produces a malformed record with spoofed
// headers to topic on brokers, runs a consumer until it is dead-lettered
// and checks the dead letter read back from dlq.
func deadLetterSpoofRoundTrip(t *testing.T, o Options) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.DefaultProduceTopic(o.Topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("bad"), Value: []byte(`{not json`), Headers: spoofHeaders()}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, cons, func() bool { s := cons.Stats(); return s.DeadLettered == 1 && s.Commits > 0 }); err != nil {
		t.Fatalf("Run: %v", err)
	}
	dl := readAll(t, o.Brokers, o.DeadLetterTopic, 1)
	if len(dl) != 1 {
		t.Fatalf("read %d dead letters, want 1", len(dl))
	}
	checkUnspoofed(t, dl[0], "malformed")
	if got := sink.HeaderValue(dl[0], HeaderSourceTopic); got != o.Topic {
		t.Errorf("source topic %q, want %q", got, o.Topic)
	}
}

// TestDeadLetterSpoofKfake runs the spoofing check through the consumer on
// the in-process broker.
func TestDeadLetterSpoofKfake(t *testing.T) {
	c := newCluster(t)
	deadLetterSpoofRoundTrip(t, testOptions(c.ListenAddrs()))
}

// TestDeadLetterSpoofRealBroker runs it on the real Kafka
// (TETHER_TEST_KAFKA).
func TestDeadLetterSpoofRealBroker(t *testing.T) {
	broker := testenv.Kafka(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	o := testOptions([]string{broker})
	o.Group = "dlq-spoof-" + suffix
	o.Topic = "dlq-spoof.events." + suffix
	o.DeadLetterTopic = "dlq-spoof.dlq." + suffix
	o.StateTopic = ""
	testenv.CreateTopics(t, broker, 1, nil, o.Topic, o.DeadLetterTopic)
	deadLetterSpoofRoundTrip(t, o)
}
