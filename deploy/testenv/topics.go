package testenv

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// CreateTopics creates topics on the broker at addr (an existing topic is
// kept) and waits until the broker's metadata lists every partition of each
// with a leader: a topic the controller has created is not yet known to the
// broker that serves it, and a produce or fetch in that window fails with
// UNKNOWN_TOPIC_OR_PARTITION. It fails t on any error or after a minute,
// and deletes the topics when t ends.
func CreateTopics(t testing.TB, addr string, partitions int32, configs map[string]*string, topics ...string) {
	t.Helper()
	t.Cleanup(func() { deleteTopics(addr, topics) })
	if err := createTopics(addr, partitions, configs, topics); err != nil {
		t.Fatalf("create topics %v on %s: %v", topics, addr, err)
	}
}

// deleteTopics deletes topics, best effort: a test's topics have unique
// names and a leftover one costs only disk.
func deleteTopics(addr string, topics []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = kadm.NewClient(cl).DeleteTopics(ctx, topics...)
}

func createTopics(addr string, partitions int32, configs map[string]*string, topics []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resps, err := adm.CreateTopics(ctx, partitions, 1, configs, topics...)
	if err != nil {
		return err
	}
	for _, r := range resps {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("%s: %w", r.Topic, r.Err)
		}
	}
	for {
		ready, why := topicsReady(ctx, adm, topics)
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %s", why)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicsReady reports whether the metadata lists every partition of topics
// with a leader, or why not.
func topicsReady(ctx context.Context, adm *kadm.Client, topics []string) (bool, string) {
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return false, err.Error()
	}
	for _, topic := range topics {
		d, ok := details[topic]
		switch {
		case !ok:
			return false, topic + " not in metadata"
		case d.Err != nil:
			return false, fmt.Sprintf("%s: %v", topic, d.Err)
		case len(d.Partitions) == 0:
			return false, topic + " has no partitions"
		}
		for _, p := range d.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false, fmt.Sprintf("%s[%d]: leader %d, %v", topic, p.Partition, p.Leader, p.Err)
			}
		}
	}
	return true, ""
}
