package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errTestRejected = errors.New("test sink rejected")

func TestClassifyProduce(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name        string
		ctx         context.Context
		err         error
		unavailable bool
		rejected    bool
	}{
		{"not leader", live, kerr.NotLeaderForPartition, true, false},
		{"leader unavailable", live, kerr.LeaderNotAvailable, true, false},
		{"timeout", live, kgo.ErrRecordTimeout, true, false},
		{"client closed", live, kgo.ErrClientClosed, true, false},
		{"deadline", live, context.DeadlineExceeded, true, false},
		{"too large", live, fmt.Errorf("%w (uncompressed_bytes=9)", kerr.MessageTooLarge), false, true},
		{"not authorised", live, kerr.TopicAuthorizationFailed, false, true},
		{"caller cancelled", done, context.Canceled, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ClassifyProduce(tc.ctx, "test", "publish", errTestRejected, tc.err)
			if errors.Is(err, ErrUnavailable) != tc.unavailable || errors.Is(err, errTestRejected) != tc.rejected {
				t.Fatalf("classify(%v) = %v: unavailable %v rejected %v, want %v %v", tc.err, err,
					errors.Is(err, ErrUnavailable), errors.Is(err, errTestRejected), tc.unavailable, tc.rejected)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("classify(%v) = %v does not wrap the cause", tc.err, err)
			}
		})
	}
}

func newPublisher(t *testing.T, addr, topic string) KafkaPublisher {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return NewKafkaPublisher(cl, topic, "test", errTestRejected, func(r *kgo.Record) string { return "record " + string(r.Key) })
}

// TestKafkaPublisherPublishes produces records and reads them back: in
// order, on the publisher's topic, with the sink's keys, values and
// headers untouched.
func TestKafkaPublisherPublishes(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := newPublisher(t, c.ListenAddrs()[0], "t")
	if err := p.Publish(context.Background(), nil); err != nil {
		t.Fatalf("nothing to publish: %v", err)
	}
	var recs []*kgo.Record
	for i := range 3 {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}}})
	}
	if err := p.Publish(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()[0]), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for len(got) < 3 && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			got = append(got, fmt.Sprintf("%s %s=%s %s=%s", r.Topic, r.Key, r.Value, r.Headers[0].Key, r.Headers[0].Value))
		})
	}
	if want := "t k0=v0 h=0|t k1=v1 h=1|t k2=v2 h=2"; strings.Join(got, "|") != want {
		t.Fatalf("read back %q, want %q", strings.Join(got, "|"), want)
	}
}

// TestKafkaPublisherUnavailable: without a broker Publish fails within its
// timeout with ErrUnavailable naming the record, or with the caller's
// cancellation.
func TestKafkaPublisherUnavailable(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0]
	c.Close()
	tests := []struct {
		name        string
		timeout     time.Duration
		cancel      bool
		unavailable bool
		is          error
	}{
		{"broker down", 300 * time.Millisecond, false, true, context.DeadlineExceeded},
		{"caller cancelled", time.Minute, true, false, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPublisher(t, addr, "t")
			p.Timeout = tc.timeout
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			err := p.Publish(ctx, []*kgo.Record{{Key: []byte("k1")}})
			if err == nil {
				t.Fatal("Publish succeeded without a broker")
			}
			if errors.Is(err, ErrUnavailable) != tc.unavailable || !errors.Is(err, tc.is) {
				t.Fatalf("Publish = %v; want unavailable %v and wrapping %v", err, tc.unavailable, tc.is)
			}
			if !strings.Contains(err.Error(), `test: publish record k1 to topic "t"`) {
				t.Fatalf("error lacks context: %v", err)
			}
		})
	}
}
