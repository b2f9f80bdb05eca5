package control

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// TestIntegrationKafka publishes commands to the real broker started by
// deploy/local/services.sh and reads them back with the consumer library,
// including a replayed batch that must be de-duplicated and a second
// consumer in the same group that must find nothing left to do.
func TestIntegrationKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short")
	}
	addr := testenv.Kafka(t)
	suffix := time.Now().UnixNano()
	topic := fmt.Sprintf("tether.control.it-%d", suffix)
	group := fmt.Sprintf("tether-control-it-%d", suffix)

	cl := newClient(t, addr, kgo.RequestTimeoutOverhead(5*time.Second))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	testenv.CreateTopics(t, addr, 3, nil, topic)
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_, _ = adm.DeleteTopic(dctx, topic)
	})

	pub := testPublisher(cl, topic)
	pub.Timeout = 30 * time.Second
	want := testCommands()
	if err := pub.Write(ctx, &sink.Batch{Commands: want}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	// The daemon retries a batch after a failure it could not see was
	// partial: the replay must not reach the handler again.
	if err := pub.Write(ctx, &sink.Batch{Commands: want}); err != nil {
		t.Fatalf("Write replay: %v", err)
	}

	col := newCollector()
	c, stop := startConsumer(t, Brokers(addr), Topic(topic), Group(group), Handler(col.handle))
	s := waitStats(t, c, 60*time.Second, func(s Stats) bool { return s.Handled+s.Duplicates == uint64(2*len(want)) })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s.Handled != uint64(len(want)) || s.Duplicates != uint64(len(want)) {
		t.Fatalf("stats %+v, want %d handled and %d duplicates", s, len(want), len(want))
	}
	for i := range want { // the consumer sees them signed
		testSigner.Sign(&want[i])
	}
	if got := col.got(); !reflect.DeepEqual(sortByID(got), sortByID(want)) {
		t.Fatalf("read back %+v, want %+v", got, want)
	}
	assertCommitted(t, cl, group, topic)

	// A new command after a restart: the group resumes after its commit, so
	// only the new command is delivered.
	extra := command("agent-c", "s9", models.ActionRequireApproval, "f9")
	if err := pub.Write(ctx, &sink.Batch{Commands: []models.ContainmentCommand{extra}}); err != nil {
		t.Fatalf("Write extra: %v", err)
	}
	col2 := newCollector()
	c2, stop2 := startConsumer(t, Brokers(addr), Topic(topic), Group(group), Handler(col2.handle))
	col2.wait(t, 1, 60*time.Second)
	if err := stop2(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	testSigner.Sign(&extra)
	if got := col2.got(); len(got) != 1 || !reflect.DeepEqual(got[0], extra) {
		t.Fatalf("restarted consumer read %+v, want only %+v", got, extra)
	}
	if s := c2.Stats(); s.Handled != 1 || s.Duplicates != 0 {
		t.Fatalf("restarted consumer stats %+v", s)
	}
	assertCommitted(t, cl, group, topic)
}
