package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// Sentinel errors of the consumer library.
var (
	// ErrConfig is wrapped by NewConsumer when an option is missing or invalid.
	ErrConfig = errors.New("invalid control consumer configuration")
	// ErrInvalidCommand is wrapped (and passed to the OnError hook) when a
	// control record is not a containment command; such records are skipped
	// and committed.
	ErrInvalidCommand = errors.New("invalid containment command")
	// ErrSkip may be returned (wrapped) by a Handler to drop a command
	// without retrying it: it is remembered as seen and committed.
	ErrSkip = errors.New("skip containment command")
	// ErrClosed is returned by Run when the consumer was closed before Run
	// started or Run was already called: a Consumer runs once.
	ErrClosed = errors.New("control consumer closed or already run")
)

// Defaults of the consumer options.
const (
	// DefaultDedupWindow is how many handled command ids are remembered.
	DefaultDedupWindow = 65536
	// DefaultMinRetryBackoff is the first wait before retrying a handler.
	DefaultMinRetryBackoff = 200 * time.Millisecond
	// DefaultMaxRetryBackoff caps the doubling wait between handler retries.
	DefaultMaxRetryBackoff = 10 * time.Second
	// DefaultMaxPollRecords bounds the records handled between two commits.
	DefaultMaxPollRecords = 500

	commitTimeout = 10 * time.Second
)

// HandlerFunc acts on one containment command. It is called once per
// command id (within the de-duplication window), in record order per
// partition, never concurrently. A nil return commits the command. A
// returned error is reported to the OnError hook and the command is retried
// with exponential backoff until it succeeds or Run's context ends, unless
// the error wraps ErrSkip. ctx is cancelled when Run stops.
type HandlerFunc func(ctx context.Context, cmd models.ContainmentCommand) error

// Opt configures a Consumer. Options are applied in order.
type Opt interface{ apply(*config) }

type opt struct{ fn func(*config) }

func (o opt) apply(c *config) { o.fn(c) }

type config struct {
	brokers     []string
	topic       string
	group       string
	handler     HandlerFunc
	dedup       int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	maxPoll     int
	skipExpired bool
	now         func() time.Time
	onError     func(error)
	kopts       []kgo.Opt
}

// Brokers sets the seed brokers ("host:port"). Required.
func Brokers(addrs ...string) Opt {
	return opt{func(c *config) { c.brokers = append(c.brokers, addrs...) }}
}

// Topic sets the control topic; the default is DefaultTopic.
func Topic(topic string) Opt { return opt{func(c *config) { c.topic = topic }} }

// Group sets the consumer group; offsets are committed under it. Required.
// Consumers that must each see every command (e.g. one per gateway replica)
// use distinct groups; consumers that share the work use one group.
func Group(group string) Opt { return opt{func(c *config) { c.group = group }} }

// Handler sets the function that acts on each command. Required.
func Handler(fn HandlerFunc) Opt { return opt{func(c *config) { c.handler = fn }} }

// DedupWindow sets how many recently handled command ids are remembered to
// drop replays (default DefaultDedupWindow). Memory is bounded by it; the
// oldest ids are forgotten first.
func DedupWindow(n int) Opt { return opt{func(c *config) { c.dedup = n }} }

// RetryBackoff sets the backoff between attempts of a failing handler: it
// starts at min and doubles up to max.
func RetryBackoff(min, max time.Duration) Opt {
	return opt{func(c *config) { c.minBackoff, c.maxBackoff = min, max }}
}

// MaxPollRecords bounds how many records are handled between commits
// (default DefaultMaxPollRecords).
func MaxPollRecords(n int) Opt { return opt{func(c *config) { c.maxPoll = n }} }

// SkipExpired drops commands whose ExpiresAt has passed by wall-clock time
// instead of handling them. Off by default, because a replayed stream (an
// evaluation, a demo) carries commands stamped with old event times.
func SkipExpired() Opt { return opt{func(c *config) { c.skipExpired = true }} }

// OnError sets a hook that receives every non-fatal problem: undecodable
// records, handler failures before a retry, fetch and commit errors. Each
// error names the topic, partition, offset and, when known, the agent and
// command ids. The hook is called from Run's goroutine.
func OnError(fn func(error)) Opt { return opt{func(c *config) { c.onError = fn }} }

// KafkaOpts appends franz-go client options (TLS, SASL, logging, client id);
// ingest.ClientOptions builds the client id, TLS and SASL ones from the same
// settings the daemon uses. Options that conflict with the consumer's own
// (group, topics, commits) are not supported.
func KafkaOpts(opts ...kgo.Opt) Opt {
	return opt{func(c *config) { c.kopts = append(c.kopts, opts...) }}
}

// withClock replaces time.Now for SkipExpired in tests.
func withClock(now func() time.Time) Opt { return opt{func(c *config) { c.now = now }} }

// Stats counts what a Consumer did with the records it read.
type Stats struct {
	// Handled commands: the handler returned nil.
	Handled uint64
	// Duplicates dropped because their command id was handled recently.
	Duplicates uint64
	// Invalid records that did not decode to a command.
	Invalid uint64
	// Expired commands dropped by SkipExpired.
	Expired uint64
	// Skipped commands whose handler returned ErrSkip.
	Skipped uint64
	// Retries of a failing handler.
	Retries uint64
}

// Consumer reads containment commands from the control topic and hands
// each new one to its Handler. Create it with NewConsumer, call Run once,
// and Close it.
type Consumer struct {
	cfg config
	cl  *kgo.Client

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}

	seen *idWindow

	handled, duplicates, invalid, expired, skipped, retries atomic.Uint64
}

// NewConsumer validates the options and creates the Kafka client. It does
// not contact the brokers; Run does.
func NewConsumer(opts ...Opt) (*Consumer, error) {
	cfg := config{
		topic:      DefaultTopic,
		dedup:      DefaultDedupWindow,
		minBackoff: DefaultMinRetryBackoff,
		maxBackoff: DefaultMaxRetryBackoff,
		maxPoll:    DefaultMaxPollRecords,
		now:        time.Now,
		onError:    func(error) {},
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	switch {
	case len(cfg.brokers) == 0:
		return nil, fmt.Errorf("%w: no brokers (use control.Brokers)", ErrConfig)
	case cfg.topic == "":
		return nil, fmt.Errorf("%w: empty topic", ErrConfig)
	case cfg.group == "":
		return nil, fmt.Errorf("%w: no consumer group (use control.Group)", ErrConfig)
	case cfg.handler == nil:
		return nil, fmt.Errorf("%w: no handler (use control.Handler)", ErrConfig)
	case cfg.dedup < 1:
		return nil, fmt.Errorf("%w: dedup window %d must be at least 1", ErrConfig, cfg.dedup)
	case cfg.minBackoff <= 0 || cfg.maxBackoff < cfg.minBackoff:
		return nil, fmt.Errorf("%w: retry backoff %s..%s (want 0 < min <= max)", ErrConfig, cfg.minBackoff, cfg.maxBackoff)
	case cfg.maxPoll < 1:
		return nil, fmt.Errorf("%w: max poll records %d must be at least 1", ErrConfig, cfg.maxPoll)
	}
	if cfg.onError == nil {
		cfg.onError = func(error) {}
	}
	kopts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ConsumerGroup(cfg.group),
		kgo.ConsumeTopics(cfg.topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, cfg.kopts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client for topic %q group %q: %w", ErrConfig, cfg.topic, cfg.group, err)
	}
	return &Consumer{cfg: cfg, cl: cl, seen: newIDWindow(cfg.dedup)}, nil
}

// Stats returns a snapshot of the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Handled:    c.handled.Load(),
		Duplicates: c.duplicates.Load(),
		Invalid:    c.invalid.Load(),
		Expired:    c.expired.Load(),
		Skipped:    c.skipped.Load(),
		Retries:    c.retries.Load(),
	}
}

// Run consumes until ctx is cancelled or Close is called, then commits what
// was handled and returns nil. It returns an error for failures that
// retrying cannot fix (authorisation, an invalid group), and ErrClosed when
// called twice or after Close. Offsets are committed after each polled batch
// of records has been handled, so a crash re-delivers at most that batch.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started || c.closed {
		c.mu.Unlock()
		return fmt.Errorf("control consumer topic %q group %q: %w", c.cfg.topic, c.cfg.group, ErrClosed)
	}
	c.started = true
	ctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.done = make(chan struct{})
	c.mu.Unlock()
	defer close(c.done)
	defer cancel()

	for {
		fetches := c.cl.PollRecords(ctx, c.cfg.maxPoll)
		if fetches.IsClientClosed() {
			return nil
		}
		var fatal error
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			err = fmt.Errorf("control: fetch topic %q partition %d: %w", topic, partition, err)
			c.cfg.onError(err)
			if fatal == nil && fatalErr(err) {
				fatal = err
			}
		})
		var handled []*kgo.Record
		stopped := false
		for r := range fetches.RecordsAll() {
			if !c.process(ctx, r) {
				stopped = true
				break
			}
			handled = append(handled, r)
		}
		if len(handled) > 0 {
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
			if err := c.cl.CommitRecords(cctx, handled...); err != nil {
				last := handled[len(handled)-1]
				c.cfg.onError(fmt.Errorf("control: commit %d records (last topic %q partition %d offset %d) for group %q: %w",
					len(handled), last.Topic, last.Partition, last.Offset, c.cfg.group, err))
			}
			ccancel()
		}
		c.cl.AllowRebalance()
		if fatal != nil {
			return fatal
		}
		if stopped || ctx.Err() != nil {
			return nil
		}
	}
}

// process handles one record. It returns false when ctx ended before the
// record was dealt with (it must then not be committed).
func (c *Consumer) process(ctx context.Context, r *kgo.Record) bool {
	cmd, err := decode(r)
	if err != nil {
		c.invalid.Add(1)
		c.cfg.onError(err)
		return true
	}
	if c.cfg.skipExpired && !cmd.ExpiresAt.IsZero() && c.cfg.now().After(cmd.ExpiresAt) {
		c.expired.Add(1)
		return true
	}
	if c.seen.has(cmd.ID) {
		c.duplicates.Add(1)
		return true
	}
	backoff := c.cfg.minBackoff
	for attempt := 1; ; attempt++ {
		err := c.cfg.handler(ctx, cmd)
		if err == nil {
			c.seen.add(cmd.ID)
			c.handled.Add(1)
			return true
		}
		where := fmt.Sprintf("command %s (agent %s, action %s) at topic %q partition %d offset %d, attempt %d",
			cmd.ID, cmd.AgentID, cmd.Action, r.Topic, r.Partition, r.Offset, attempt)
		if errors.Is(err, ErrSkip) {
			c.seen.add(cmd.ID)
			c.skipped.Add(1)
			c.cfg.onError(fmt.Errorf("control: handler skipped %s: %w", where, err))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.cfg.onError(fmt.Errorf("control: handler failed for %s (retrying in %s): %w", where, backoff, err))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		c.retries.Add(1)
		backoff = min(2*backoff, c.cfg.maxBackoff)
	}
}

// decode parses a control record. The value's command_id wins over the
// header; a record with neither, or without agent or action, is invalid.
func decode(r *kgo.Record) (models.ContainmentCommand, error) {
	var cmd models.ContainmentCommand
	if err := json.Unmarshal(r.Value, &cmd); err != nil {
		return cmd, fmt.Errorf("control: topic %q partition %d offset %d (key %q): %w: %v",
			r.Topic, r.Partition, r.Offset, r.Key, ErrInvalidCommand, err)
	}
	if cmd.ID == "" {
		cmd.ID = sink.HeaderValue(r, HeaderCommandID)
	}
	missing := ""
	switch {
	case cmd.ID == "":
		missing = "command_id"
	case cmd.AgentID == "":
		missing = "agent_id"
	case cmd.Action == "":
		missing = "action"
	}
	if missing != "" {
		return cmd, fmt.Errorf("control: topic %q partition %d offset %d (key %q, command %q): %w: missing %s",
			r.Topic, r.Partition, r.Offset, r.Key, cmd.ID, ErrInvalidCommand, missing)
	}
	return cmd, nil
}

// fatalErr reports whether a fetch error means the consumer can never work.
func fatalErr(err error) bool {
	for _, e := range []error{
		kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed,
		kerr.ClusterAuthorizationFailed, kerr.SaslAuthenticationFailed,
		kerr.InvalidGroupID, kerr.InvalidTopicException,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Close stops Run (committing what was handled), waits for it to return,
// leaves the group and closes the client. It is safe to call more than once
// and from another goroutine than Run's.
func (c *Consumer) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	c.cl.CloseAllowingRebalance()
}

// idWindow remembers the last n ids added, in a ring: bounded memory, the
// oldest forgotten first.
type idWindow struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newIDWindow(n int) *idWindow {
	return &idWindow{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (w *idWindow) has(id string) bool {
	_, ok := w.ids[id]
	return ok
}

func (w *idWindow) add(id string) {
	if w.has(id) {
		return
	}
	if old := w.ring[w.next]; old != "" {
		delete(w.ids, old)
	}
	w.ring[w.next] = id
	w.ids[id] = struct{}{}
	w.next = (w.next + 1) % len(w.ring)
}
