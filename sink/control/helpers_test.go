package control

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/models"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSigner signs the tests' commands; startConsumer trusts it.
var testSigner = func() *Signer {
	s, err := GenerateSigner()
	if err != nil {
		panic(err)
	}
	return s
}()

// testPublisher returns a Publisher signing with testSigner.
func testPublisher(cl *kgo.Client, topic string) *Publisher {
	p := NewPublisher(cl, topic)
	p.Signer = testSigner
	return p
}

// fakeCluster starts an in-process broker with topic seeded (3 partitions).
func fakeCluster(t *testing.T, topic string) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// newClient returns a producer/admin client closed at cleanup.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// testIssued is the issue time of the tests' commands: half an hour ago,
// so they are in force for another half hour.
var testIssued = time.Now().UTC().Truncate(time.Second).Add(-30 * time.Minute)

// command returns a valid command with a deterministic id.
func command(agent, session string, action models.Action, finding string) models.ContainmentCommand {
	at := testIssued
	c := models.ContainmentCommand{
		AgentID:    agent,
		SessionID:  session,
		Action:     action,
		Severity:   80,
		Reason:     "test " + string(action),
		FindingIDs: []string{finding},
		IssuedAt:   at,
		ExpiresAt:  at.Add(time.Hour),
	}
	c.SetID()
	return c
}

// collector is a Handler that records what it was given.
type collector struct {
	mu   sync.Mutex
	cmds []models.ContainmentCommand
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1024)} }

func (c *collector) handle(_ context.Context, cmd models.ContainmentCommand) error {
	c.mu.Lock()
	c.cmds = append(c.cmds, cmd)
	c.mu.Unlock()
	c.ch <- struct{}{}
	return nil
}

func (c *collector) got() []models.ContainmentCommand {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]models.ContainmentCommand(nil), c.cmds...)
}

// wait blocks until n commands were handled in total.
func (c *collector) wait(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for len(c.got()) < n {
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("handled %d commands, want %d within %s", len(c.got()), n, timeout)
		}
	}
}

// startConsumer creates a consumer trusting testSigner, without acks
// unless opts set an AckTopic, runs it in a goroutine and returns a
// stop function that closes it and returns Run's error. Stop is also
// registered as cleanup.
func startConsumer(t *testing.T, opts ...Opt) (*Consumer, func() error) {
	t.Helper()
	c, err := NewConsumer(append([]Opt{TrustKey(testSigner.Public()), AckTopic("")}, opts...)...)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			c.Close()
			runErr = <-errc
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return c, stop
}

// waitStats polls c.Stats until cond holds.
func waitStats(t *testing.T, c *Consumer, timeout time.Duration, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := c.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v did not reach the expected state within %s", s, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertCommitted checks that group has committed the end offset of every
// partition of topic, i.e. everything was handled and nothing is left.
func assertCommitted(t *testing.T, cl *kgo.Client, group, topic string) {
	t.Helper()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	var mismatch []string
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset == 0 {
			return
		}
		got, ok := committed.Lookup(topic, lo.Partition)
		if !ok || got.At != lo.Offset {
			mismatch = append(mismatch, fmt.Sprintf("partition %d: committed %d (found %v), end %d", lo.Partition, got.At, ok, lo.Offset))
		}
	})
	if len(mismatch) > 0 {
		t.Fatalf("group %s did not commit to the end of %s: %v", group, topic, mismatch)
	}
}
