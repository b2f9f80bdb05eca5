// Package clickhouse writes Tether's output to ClickHouse for analysts: the
// findings, the containment commands and an audit trail of every valid event.
//
// Open connects over the native protocol, reads the server version and
// applies the schema idempotently (CREATE DATABASE/TABLE IF NOT EXISTS) in
// one of two dialects: DialectModern for ClickHouse 20.1 and later
// (DateTime64(3, 'UTC'), LowCardinality(String), TTL retention) and
// DialectLegacy for older servers such as Debian bookworm's 18.16 (DateTime,
// String, no TTL). All three tables are ReplacingMergeTree keyed by their
// deterministic ids, so a batch written twice collapses to one row per id
// once merged: analysts query with FINAL (see the top-level README.md).
package clickhouse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/sink"
)

// Sentinel errors. Errors from an unreachable or overloaded server wrap
// sink.ErrUnavailable instead.
var (
	// ErrInvalidOptions: an Options field is out of its domain.
	ErrInvalidOptions = errors.New("invalid clickhouse options")
	// ErrSchema: the schema could not be applied, or an existing table lacks
	// columns this build writes.
	ErrSchema = errors.New("clickhouse schema")
	// ErrRejected: the server refused a batch for a reason that a retry will
	// not fix (a type mismatch, an unknown column, a permission error).
	ErrRejected = errors.New("clickhouse rejected the batch")
	// ErrClosed: Write was called after Close.
	ErrClosed = errors.New("clickhouse writer is closed")
)

// DefaultMaxTextBytes is the default limit on the free-text event fields
// stored in the audit table (arguments, result, content, error).
const DefaultMaxTextBytes = 4096

// Options configure Open. The zero value of a field means its default only
// where the field's doc says so; start from DefaultOptions.
type Options struct {
	// Addr is the server's native-protocol address, host:port.
	Addr string
	// Database holds Tether's tables; created when missing. It must be a
	// plain identifier ([A-Za-z_][A-Za-z0-9_]*).
	Database string
	// Username and Password authenticate the connection.
	Username string
	Password string
	// TLS, when not nil, connects with TLS: Addr is then the server's
	// secure native port (tcp_port_secure, 9440 by convention).
	TLS *tls.Config
	// RetentionDays is how long findings and commands are kept (by their
	// time and issued_at), via TTL on servers that support it; 0 keeps them
	// forever. Retention is fixed when a table is created: changing it later
	// needs ALTER TABLE … MODIFY TTL by hand.
	RetentionDays int
	// EventRetentionDays is how long audit events are kept; 0 keeps them
	// forever.
	EventRetentionDays int
	// MaxTextBytes caps each free-text event field written to the audit
	// table (arguments, result, content, error); longer values are cut at a
	// UTF-8 boundary and the row's truncated flag is set. 0 means
	// DefaultMaxTextBytes; negative means no limit.
	MaxTextBytes int
	// DialTimeout bounds connecting and the handshake.
	DialTimeout time.Duration
	// ReadTimeout bounds each read from the server during a query.
	ReadTimeout time.Duration
	// MaxOpenConns bounds the connection pool.
	MaxOpenConns int
	// Compress enables LZ4 compression of native blocks.
	Compress bool
}

// DefaultOptions returns the options for a local server: 127.0.0.1:9000,
// database tether, user default without password, findings and commands
// kept 365 days, events 30 days, 4 KiB text fields, 5 s dial and 30 s read
// timeouts, 4 connections, LZ4 compression.
func DefaultOptions() Options {
	return Options{
		Addr:               "127.0.0.1:9000",
		Database:           "tether",
		Username:           "default",
		RetentionDays:      365,
		EventRetentionDays: 30,
		MaxTextBytes:       DefaultMaxTextBytes,
		DialTimeout:        5 * time.Second,
		ReadTimeout:        30 * time.Second,
		MaxOpenConns:       4,
		Compress:           true,
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (o *Options) validate() error {
	switch {
	case o.Addr == "":
		return fmt.Errorf("%w: Addr is empty", ErrInvalidOptions)
	case !identRE.MatchString(o.Database):
		return fmt.Errorf("%w: Database %q is not a plain identifier", ErrInvalidOptions, o.Database)
	case o.RetentionDays < 0 || o.EventRetentionDays < 0:
		return fmt.Errorf("%w: negative retention (%d, %d days)", ErrInvalidOptions, o.RetentionDays, o.EventRetentionDays)
	case o.DialTimeout < 0 || o.ReadTimeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrInvalidOptions)
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return fmt.Errorf("%w: Addr %q: %v", ErrInvalidOptions, o.Addr, err)
	}
	return nil
}

func (o *Options) maxText() int {
	switch {
	case o.MaxTextBytes == 0:
		return DefaultMaxTextBytes
	case o.MaxTextBytes < 0:
		return 0 // no limit
	}
	return o.MaxTextBytes
}

// Writer stores batches in ClickHouse. It implements sink.Writer and
// sink.Closer and is safe for concurrent use.
type Writer struct {
	conn    driver.Conn
	opts    Options
	schema  Schema
	version ch.ServerVersion
	log     zerolog.Logger

	mu     sync.Mutex
	closed bool
}

var _ sink.Writer = (*Writer)(nil)
var _ sink.Closer = (*Writer)(nil)

// Open connects to the server at opts.Addr, reads its version, chooses the
// dialect and applies the schema. An unreachable server yields an error
// wrapping sink.ErrUnavailable.
func Open(ctx context.Context, opts Options, logger zerolog.Logger) (*Writer, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	chOpts := &ch.Options{
		Protocol: ch.Native,
		Addr:     []string{opts.Addr},
		// The database may not exist yet: connect to the user's default
		// database and qualify every table name.
		Auth:         ch.Auth{Username: opts.Username, Password: opts.Password},
		TLS:          opts.TLS,
		DialTimeout:  opts.DialTimeout,
		ReadTimeout:  opts.ReadTimeout,
		MaxOpenConns: opts.MaxOpenConns,
		MaxIdleConns: opts.MaxOpenConns,
		ClientInfo: ch.ClientInfo{Products: []struct{ Name, Version string }{
			{Name: "tether", Version: "1"},
		}},
	}
	if opts.Compress {
		chOpts.Compression = &ch.Compression{Method: ch.CompressionLZ4}
	}
	conn, err := ch.Open(chOpts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: open: %w", opts.Addr, classify(err))
	}
	w := &Writer{conn: conn, opts: opts, log: logger.With().Str("component", "sink/clickhouse").Str("server", opts.Addr).Bool("tls", opts.TLS != nil).Str("database", opts.Database).Logger()}
	if err := w.start(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

func (w *Writer) start(ctx context.Context) error {
	if err := w.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse %s: ping: %w", w.opts.Addr, classify(err))
	}
	v, err := w.conn.ServerVersion()
	if err != nil {
		return fmt.Errorf("clickhouse %s: server version: %w", w.opts.Addr, classify(err))
	}
	w.version = *v
	w.schema = NewSchema(w.opts, DialectFor(v.Version.Major, v.Version.Minor))
	if err := w.migrate(ctx); err != nil {
		return err
	}
	w.log.Info().
		Str("server_version", v.Version.String()).
		Uint64("revision", v.Revision).
		Stringer("dialect", w.schema.Dialect).
		Int("retention_days", w.opts.RetentionDays).
		Int("event_retention_days", w.opts.EventRetentionDays).
		Bool("ttl", w.schema.Dialect.HasTTL()).
		Msg("clickhouse schema applied")
	return nil
}

// Conn returns the underlying connection pool, for queries in tests and
// tools. It stays owned by the Writer: do not close it.
func (w *Writer) Conn() driver.Conn { return w.conn }

// Database returns the database holding the tables.
func (w *Writer) Database() string { return w.opts.Database }

// Dialect returns the DDL dialect chosen for the server.
func (w *Writer) Dialect() Dialect { return w.schema.Dialect }

// ServerVersion returns the version the server reported, e.g. "18.16.1".
func (w *Writer) ServerVersion() string { return w.version.Version.String() }

// Close releases the connections. It is safe to call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.conn.Close(); err != nil {
		return fmt.Errorf("clickhouse %s: close: %w", w.opts.Addr, err)
	}
	return nil
}

func (w *Writer) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// transientCodes are server exception codes that a later retry may cure;
// they are reported as sink.ErrUnavailable.
var transientCodes = map[int32]bool{
	159: true, // TIMEOUT_EXCEEDED
	164: true, // READONLY
	202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
	203: true, // NO_FREE_CONNECTION
	209: true, // SOCKET_TIMEOUT
	210: true, // NETWORK_ERROR
	236: true, // ABORTED
	241: true, // MEMORY_LIMIT_EXCEEDED
	242: true, // TABLE_IS_READ_ONLY
	252: true, // TOO_MANY_PARTS
	285: true, // TOO_FEW_LIVE_REPLICAS
	286: true, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
	319: true, // UNKNOWN_STATUS_OF_INSERT
	394: true, // QUERY_WAS_CANCELLED
	425: true, // SYSTEM_ERROR
	999: true, // KEEPER_EXCEPTION
}

// classify wraps err in sink.ErrUnavailable when the server could not be
// reached or was temporarily unable to serve, and in ErrRejected when it
// refused the request for good. A cancelled context is returned as is.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var exc *ch.Exception
	if errors.As(err, &exc) {
		if transientCodes[exc.Code] {
			return fmt.Errorf("%w: %w", sink.ErrUnavailable, err)
		}
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	var opErr *ch.OpError
	if errors.Is(err, ch.ErrBatchInvalid) || errors.As(err, &opErr) {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	// Everything else is the connection failing: refused, reset, timed out,
	// EOF, a pool that could not dial, a handshake or protocol failure.
	return fmt.Errorf("%w: %w", sink.ErrUnavailable, err)
}
