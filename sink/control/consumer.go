package control

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
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
	// ErrRefused is wrapped (and passed to the OnError hook) when a control
	// record is refused: not a valid command, or one that fails
	// verification (see Reason). Refused records are counted by reason,
	// acknowledged as refused and committed; the handler never sees them.
	ErrRefused = errors.New("containment command refused")
	// ErrSkip may be returned (wrapped) by a Handler to decline a command
	// without retrying it: it is remembered as seen, acknowledged as
	// refused and committed.
	ErrSkip = errors.New("skip containment command")
	// ErrClosed is returned by Run when the consumer was closed before Run
	// started or Run was already called: a Consumer runs once.
	ErrClosed = errors.New("control consumer closed or already run")
)

// Reason says why a consumer refused a command.
type Reason string

// Refusal reasons, in the order they are checked.
const (
	// ReasonInvalid: not JSON, or a required field (command_id, agent_id,
	// action, expires_at) is missing.
	ReasonInvalid Reason = "invalid"
	// ReasonUnsupportedVersion: a command schema version this library does
	// not know.
	ReasonUnsupportedVersion Reason = "unsupported_version"
	// ReasonUnknownAction: an action outside models.Actions.
	ReasonUnknownAction Reason = "unknown_action"
	// ReasonHeaderMismatch: the tether-command-id or tether-action header
	// disagrees with the value.
	ReasonHeaderMismatch Reason = "header_mismatch"
	// ReasonIDMismatch: command_id is not the id of the command's content.
	ReasonIDMismatch Reason = "id_mismatch"
	// ReasonMissingSignature: no key_id or signature.
	ReasonMissingSignature Reason = "missing_signature"
	// ReasonUnknownKey: key_id is not one of the trusted keys.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonBadSignature: the signature does not verify.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonExpired: expires_at has passed.
	ReasonExpired Reason = "expired"
	// ReasonReplay: not in the de-duplication window, and issued before
	// the oldest command still in force that the window had to forget, so
	// the consumer cannot tell whether it already applied it.
	ReasonReplay Reason = "replay"
)

// Reasons lists every refusal reason.
var Reasons = []Reason{ReasonInvalid, ReasonUnsupportedVersion, ReasonUnknownAction, ReasonHeaderMismatch,
	ReasonIDMismatch, ReasonMissingSignature, ReasonUnknownKey, ReasonBadSignature, ReasonExpired, ReasonReplay}

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
	// DefaultAckTopic receives the consumers' acknowledgements.
	DefaultAckTopic = "tether.control.acks"

	commitTimeout = 10 * time.Second
)

// HandlerFunc acts on one verified containment command. It is called once
// per command id (within the de-duplication window), in record order per
// partition, never concurrently. A nil return acknowledges the command as
// applied and commits it. A returned error is reported to the OnError hook,
// acknowledged once as failed, and the command is retried with exponential
// backoff until it succeeds or Run's context ends, unless the error wraps
// ErrSkip (acknowledged as refused). ctx is cancelled when Run stops.
type HandlerFunc func(ctx context.Context, cmd models.ContainmentCommand) error

// Opt configures a Consumer. Options are applied in order.
type Opt interface{ apply(*config) }

type opt struct{ fn func(*config) }

func (o opt) apply(c *config) { o.fn(c) }

type config struct {
	brokers       []string
	topic         string
	group         string
	handler       HandlerFunc
	state         *State
	dedup         int
	minBackoff    time.Duration
	maxBackoff    time.Duration
	maxPoll       int
	acceptExpired bool
	allowUnsigned bool
	keys          map[string]ed25519.PublicKey
	ackTopic      string
	now           func() time.Time
	onError       func(error)
	kopts         []kgo.Opt
}

// Brokers sets the seed brokers ("host:port"). Required.
func Brokers(addrs ...string) Opt {
	return opt{func(c *config) { c.brokers = append(c.brokers, addrs...) }}
}

// Topic sets the control topic; the default is DefaultTopic.
func Topic(topic string) Opt { return opt{func(c *config) { c.topic = topic }} }

// Group sets the consumer group; offsets are committed under it and acks
// name it as the consumer. Required. Consumers that must each see every
// command (e.g. one per gateway replica) use distinct groups; consumers
// that share the work use one group.
func Group(group string) Opt { return opt{func(c *config) { c.group = group }} }

// Handler sets the function that acts on each verified command. A Handler
// or Track is required.
func Handler(fn HandlerFunc) Opt { return opt{func(c *config) { c.handler = fn }} }

// Track applies every verified command to s (halts, clears, approval
// gates, demotions, suspended sessions, revoked credentials) before the
// handler runs, so an agent that consults s stops at once even while the
// handler is still working (fail closed).
func Track(s *State) Opt { return opt{func(c *config) { c.state = s }} }

// TrustKey adds trusted Ed25519 public keys. A command must be signed by
// one of them. Several keys allow rotation: trust the new key, switch the
// daemon's signing key, then drop the old one.
func TrustKey(keys ...ed25519.PublicKey) Opt {
	return opt{func(c *config) {
		for _, k := range keys {
			c.keys[KeyID(k)] = k
		}
	}}
}

// AllowUnsigned accepts commands without a signature (every other check
// still applies; a signed command must verify against a trusted key when
// any is configured, and is taken as unsigned when none is). Only for a
// daemon configured with `control.signing: disabled`; without it,
// NewConsumer requires at least one TrustKey.
func AllowUnsigned() Opt { return opt{func(c *config) { c.allowUnsigned = true }} }

// AckTopic sets the topic acknowledgements are published to (default
// DefaultAckTopic); "" disables acknowledgements.
func AckTopic(topic string) Opt { return opt{func(c *config) { c.ackTopic = topic }} }

// DedupWindow sets how many recently handled command ids are remembered to
// drop replays (default DefaultDedupWindow). Memory is bounded by it; the
// oldest ids are forgotten first. It should hold every command in force
// at once (commands expire): when it must forget one still in force,
// commands issued before it are refused as replays.
func DedupWindow(n int) Opt { return opt{func(c *config) { c.dedup = n }} }

// RetryBackoff sets the backoff between attempts of a failing handler: it
// starts at min and doubles up to max.
func RetryBackoff(min, max time.Duration) Opt {
	return opt{func(c *config) { c.minBackoff, c.maxBackoff = min, max }}
}

// MaxPollRecords bounds how many records are handled between commits
// (default DefaultMaxPollRecords).
func MaxPollRecords(n int) Opt { return opt{func(c *config) { c.maxPoll = n }} }

// AcceptExpired handles commands whose ExpiresAt has passed instead of
// refusing them; only for replaying an old stream (an evaluation) into a
// test enforcer.
func AcceptExpired() Opt { return opt{func(c *config) { c.acceptExpired = true }} }

// OnError sets a hook that receives every non-fatal problem: refused
// records, handler failures before a retry, fetch, ack and commit errors.
// Each error names the topic, partition, offset and, when known, the agent
// and command ids. The hook is called from Run's goroutine or the Kafka
// client's.
func OnError(fn func(error)) Opt { return opt{func(c *config) { c.onError = fn }} }

// KafkaOpts appends franz-go client options (TLS, SASL, logging, client id);
// ingest.ClientOptions builds the client id, TLS and SASL ones from the same
// settings the daemon uses. Options that conflict with the consumer's own
// (group, topics, commits) are not supported.
func KafkaOpts(opts ...kgo.Opt) Opt {
	return opt{func(c *config) { c.kopts = append(c.kopts, opts...) }}
}

// withClock replaces time.Now (expiry, ack times) in tests.
func withClock(now func() time.Time) Opt { return opt{func(c *config) { c.now = now }} }

// Stats counts what a Consumer did with the records it read.
type Stats struct {
	// Handled commands: applied (the handler returned nil).
	Handled uint64
	// Duplicates dropped because their command id was handled recently.
	Duplicates uint64
	// Refused records by reason (every Reason has an entry).
	Refused map[Reason]uint64
	// Skipped commands whose handler returned ErrSkip.
	Skipped uint64
	// Retries of a failing handler.
	Retries uint64
	// Acks published (acknowledged by the broker) and failed to publish.
	Acks, AckErrors uint64
}

// RefusedTotal is the sum of Refused.
func (s Stats) RefusedTotal() uint64 {
	var n uint64
	for _, v := range s.Refused {
		n += v
	}
	return n
}

// Consumer reads containment commands from the control topic, verifies
// them, hands each new one to its Handler (and State), and acknowledges
// each on the ack topic. Create it with NewConsumer, call Run once, and
// Close it.
type Consumer struct {
	cfg config
	cl  *kgo.Client

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}

	seen *idWindow

	handled, duplicates, skipped, retries, acks, ackErrors atomic.Uint64
	refused                                                [numReasons]atomic.Uint64
}

const numReasons = 10

var reasonIndex = map[Reason]int{
	ReasonInvalid: 0, ReasonUnsupportedVersion: 1, ReasonUnknownAction: 2, ReasonHeaderMismatch: 3,
	ReasonIDMismatch: 4, ReasonMissingSignature: 5, ReasonUnknownKey: 6, ReasonBadSignature: 7,
	ReasonExpired: 8, ReasonReplay: 9,
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
		ackTopic:   DefaultAckTopic,
		keys:       map[string]ed25519.PublicKey{},
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
	case cfg.handler == nil && cfg.state == nil:
		return nil, fmt.Errorf("%w: no handler (use control.Handler or control.Track)", ErrConfig)
	case len(cfg.keys) == 0 && !cfg.allowUnsigned:
		return nil, fmt.Errorf("%w: no trusted signing key (use control.TrustKey, or control.AllowUnsigned for a daemon with signing disabled)", ErrConfig)
	case cfg.dedup < 1:
		return nil, fmt.Errorf("%w: dedup window %d must be at least 1", ErrConfig, cfg.dedup)
	case cfg.minBackoff <= 0 || cfg.maxBackoff < cfg.minBackoff:
		return nil, fmt.Errorf("%w: retry backoff %s..%s (want 0 < min <= max)", ErrConfig, cfg.minBackoff, cfg.maxBackoff)
	case cfg.maxPoll < 1:
		return nil, fmt.Errorf("%w: max poll records %d must be at least 1", ErrConfig, cfg.maxPoll)
	case cfg.ackTopic == cfg.topic:
		return nil, fmt.Errorf("%w: ack topic %q is the control topic", ErrConfig, cfg.ackTopic)
	}
	if cfg.onError == nil {
		cfg.onError = func(error) {}
	}
	if cfg.handler == nil {
		cfg.handler = func(context.Context, models.ContainmentCommand) error { return nil }
	}
	kopts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ConsumerGroup(cfg.group),
		kgo.ConsumeTopics(cfg.topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ProducerLinger(0),
	}, cfg.kopts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client for topic %q group %q: %w", ErrConfig, cfg.topic, cfg.group, err)
	}
	return &Consumer{cfg: cfg, cl: cl, seen: newIDWindow(cfg.dedup)}, nil
}

// Stats returns a snapshot of the consumer's counters.
func (c *Consumer) Stats() Stats {
	s := Stats{
		Handled:    c.handled.Load(),
		Duplicates: c.duplicates.Load(),
		Refused:    make(map[Reason]uint64, len(Reasons)),
		Skipped:    c.skipped.Load(),
		Retries:    c.retries.Load(),
		Acks:       c.acks.Load(),
		AckErrors:  c.ackErrors.Load(),
	}
	for _, r := range Reasons {
		s.Refused[r] = c.refused[reasonIndex[r]].Load()
	}
	return s
}

// Run consumes until ctx is cancelled or Close is called, then commits what
// was handled and returns nil. It returns an error for failures that
// retrying cannot fix (authorisation, an invalid group), and ErrClosed when
// called twice or after Close. Offsets are committed after each polled batch
// of records has been handled and its acks flushed, so a crash re-delivers
// at most that batch.
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
			if c.cfg.ackTopic != "" {
				if err := c.cl.Flush(cctx); err != nil {
					c.cfg.onError(fmt.Errorf("control: flush acks to topic %q: %w", c.cfg.ackTopic, err))
				}
			}
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
	received := c.cfg.now()
	cmd, reason, err := c.verify(r, received)
	if err != nil {
		c.refused[reasonIndex[reason]].Add(1)
		c.cfg.onError(err)
		c.ack(r, &cmd, received, models.AckRefused, string(reason))
		return true
	}
	if c.seen.has(cmd.ID) {
		c.duplicates.Add(1)
		return true
	}
	if h := c.seen.horizon; h != 0 && cmd.IssuedAt.UnixNano() <= h {
		c.refused[reasonIndex[ReasonReplay]].Add(1)
		c.cfg.onError(fmt.Errorf("control: %s: %w (%s): issued %s, not after the newest command in force the de-duplication window forgot (%s)",
			where(r, &cmd), ErrRefused, ReasonReplay, cmd.IssuedAt.UTC().Format(time.RFC3339Nano), time.Unix(0, h).UTC().Format(time.RFC3339Nano)))
		c.ack(r, &cmd, received, models.AckRefused, string(ReasonReplay))
		return true
	}
	if c.cfg.state != nil {
		c.cfg.state.Apply(cmd)
	}
	backoff := c.cfg.minBackoff
	for attempt := 1; ; attempt++ {
		err := c.cfg.handler(ctx, cmd)
		if err == nil {
			c.seen.add(cmd, c.cfg.now())
			c.handled.Add(1)
			c.ack(r, &cmd, received, models.AckApplied, "")
			return true
		}
		w := fmt.Sprintf("%s, attempt %d", where(r, &cmd), attempt)
		if errors.Is(err, ErrSkip) {
			c.seen.add(cmd, c.cfg.now())
			c.skipped.Add(1)
			c.cfg.onError(fmt.Errorf("control: handler skipped %s: %w", w, err))
			c.ack(r, &cmd, received, models.AckRefused, err.Error())
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.cfg.onError(fmt.Errorf("control: handler failed for %s (retrying in %s): %w", w, backoff, err))
		if attempt == 1 {
			c.ack(r, &cmd, received, models.AckFailed, err.Error())
		}
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

func where(r *kgo.Record, cmd *models.ContainmentCommand) string {
	return fmt.Sprintf("command %s (agent %s, action %s) at topic %q partition %d offset %d",
		cmd.ID, cmd.AgentID, cmd.Action, r.Topic, r.Partition, r.Offset)
}

// verify decodes and checks a control record (see Reason for the checks,
// in order). On refusal it returns what was decoded, the reason and an
// error wrapping ErrRefused that names the record.
func (c *Consumer) verify(r *kgo.Record, now time.Time) (models.ContainmentCommand, Reason, error) {
	var cmd models.ContainmentCommand
	refuse := func(reason Reason, format string, args ...any) (models.ContainmentCommand, Reason, error) {
		return cmd, reason, fmt.Errorf("control: topic %q partition %d offset %d (key %q, command %q): %w (%s): %s",
			r.Topic, r.Partition, r.Offset, clip(string(r.Key)), clip(cmd.ID), ErrRefused, reason, fmt.Sprintf(format, args...))
	}
	if err := json.Unmarshal(r.Value, &cmd); err != nil {
		return refuse(ReasonInvalid, "%v", err)
	}
	missing := ""
	switch {
	case cmd.ID == "":
		missing = "command_id"
	case cmd.AgentID == "":
		missing = "agent_id"
	case cmd.Action == "":
		missing = "action"
	case cmd.ExpiresAt.IsZero():
		missing = "expires_at"
	}
	if missing != "" {
		return refuse(ReasonInvalid, "missing %s", missing)
	}
	if cmd.Version != models.CommandVersion {
		return refuse(ReasonUnsupportedVersion, "version %d (this consumer knows %d)", cmd.Version, models.CommandVersion)
	}
	if !cmd.Action.Known() {
		return refuse(ReasonUnknownAction, "action %q", clip(string(cmd.Action)))
	}
	if h := sink.HeaderValue(r, HeaderCommandID); h != "" && h != cmd.ID {
		return refuse(ReasonHeaderMismatch, "header %s %q, value %q", HeaderCommandID, clip(h), cmd.ID)
	}
	if h := sink.HeaderValue(r, HeaderAction); h != "" && h != string(cmd.Action) {
		return refuse(ReasonHeaderMismatch, "header %s %q, value %q", HeaderAction, clip(h), cmd.Action)
	}
	if id := cmd.ComputeID(); id != cmd.ID {
		return refuse(ReasonIDMismatch, "content has id %s", id)
	}
	switch {
	case cmd.Signature == "" && cmd.KeyID == "":
		if !c.cfg.allowUnsigned {
			return refuse(ReasonMissingSignature, "no signature")
		}
	case cmd.Signature == "" || cmd.KeyID == "":
		return refuse(ReasonMissingSignature, "key_id %q without signature, or signature without key_id", clip(cmd.KeyID))
	default:
		key, ok := c.cfg.keys[cmd.KeyID]
		if !ok && c.cfg.allowUnsigned && len(c.cfg.keys) == 0 {
			break // signing disabled on both sides: the signature cannot be checked
		}
		if !ok {
			return refuse(ReasonUnknownKey, "key_id %q is not trusted", clip(cmd.KeyID))
		}
		sig, err := base64.StdEncoding.DecodeString(cmd.Signature)
		if err != nil || !ed25519.Verify(key, cmd.SigningBytes(), sig) {
			return refuse(ReasonBadSignature, "signature does not verify with key %s", cmd.KeyID)
		}
	}
	if !c.cfg.acceptExpired && now.After(cmd.ExpiresAt) {
		return refuse(ReasonExpired, "expired at %s", cmd.ExpiresAt.UTC().Format(time.RFC3339Nano))
	}
	return cmd, "", nil
}

// clip bounds attacker-controlled text quoted in errors.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ack publishes the outcome of a command (asynchronously; Run flushes
// before committing).
func (c *Consumer) ack(r *kgo.Record, cmd *models.ContainmentCommand, received time.Time, st models.AckStatus, reason string) {
	if c.cfg.ackTopic == "" {
		return
	}
	a := models.CommandAck{CommandID: cmd.ID, AgentID: cmd.AgentID, Action: cmd.Action, Status: st, Reason: reason,
		Consumer: c.cfg.group, IssuedAt: cmd.IssuedAt, PublishedAt: r.Timestamp, ReceivedAt: received, AckedAt: c.cfg.now()}
	if a.CommandID == "" {
		a.CommandID = clip(sink.HeaderValue(r, HeaderCommandID))
	}
	if h := sink.HeaderValue(r, HeaderAlertedAt); h != "" {
		a.AlertedAt, _ = time.Parse(time.RFC3339Nano, h)
	}
	v, err := json.Marshal(a)
	if err != nil {
		c.ackErrors.Add(1)
		return
	}
	key := cmd.AgentID
	if key == "" {
		key = string(r.Key)
	}
	rec := &kgo.Record{Topic: c.cfg.ackTopic, Key: []byte(key), Value: v, Timestamp: a.AckedAt,
		Headers: []kgo.RecordHeader{{Key: HeaderCommandID, Value: []byte(a.CommandID)}, {Key: HeaderContentType, Value: []byte("application/json")}}}
	c.cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			c.ackErrors.Add(1)
			c.cfg.onError(fmt.Errorf("control: ack %s of command %s (agent %s) to topic %q: %w", st, a.CommandID, a.AgentID, c.cfg.ackTopic, err))
			return
		}
		c.acks.Add(1)
	})
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
// flushes pending acks, leaves the group and closes the client. It is safe
// to call more than once and from another goroutine than Run's.
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
	fctx, fcancel := context.WithTimeout(context.Background(), commitTimeout)
	_ = c.cl.Flush(fctx)
	fcancel()
	c.cl.CloseAllowingRebalance()
}

// idWindow remembers the last n commands handled, in a ring: bounded
// memory, the oldest forgotten first. When it forgets a command still in
// force, horizon rises to that command's issue time: a command issued
// before it that is not in the window may have been applied already.
type idWindow struct {
	ids     map[string]struct{}
	ring    []seenCmd
	next    int
	horizon int64 // unix ns; 0: never forgot a command in force
}

type seenCmd struct {
	id              string
	issued, expires int64
}

func newIDWindow(n int) *idWindow {
	return &idWindow{ids: make(map[string]struct{}, min(n, 4096)), ring: make([]seenCmd, n)}
}

func (w *idWindow) has(id string) bool {
	_, ok := w.ids[id]
	return ok
}

func (w *idWindow) add(c models.ContainmentCommand, now time.Time) {
	if w.has(c.ID) {
		return
	}
	if old := w.ring[w.next]; old.id != "" {
		delete(w.ids, old.id)
		if old.expires > now.UnixNano() {
			w.horizon = max(w.horizon, old.issued)
		}
	}
	w.ring[w.next] = seenCmd{c.ID, c.IssuedAt.UnixNano(), c.ExpiresAt.UnixNano()}
	w.ids[c.ID] = struct{}{}
	w.next = (w.next + 1) % len(w.ring)
}
