package ingest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
)

// unsignedJWT returns an unsecured JWT ("alg":"none") for subject, which the
// local broker's OAUTHBEARER validator (Kafka's unsecured one, for tests
// only) accepts.
func unsignedJWT(subject string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	return enc(map[string]any{"alg": "none"}) + "." + enc(map[string]any{"sub": subject, "iat": now, "exp": now + 3600}) + "."
}

// secureSecurity returns the Security that authenticates to the test
// broker's SASL_SSL listener with mechanism (client certificate included).
func secureSecurity(t *testing.T, k testenv.KafkaSecure, mechanism string) Security {
	t.Helper()
	tc, err := TLSFiles{CAFile: k.CAFile, CertFile: k.CertFile, KeyFile: k.KeyFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	s := Security{ClientID: "tether-sec-test", TLS: tc, SASL: SASL{Mechanism: mechanism}}
	if mechanism == SASLOAuthBearer {
		s.SASL.TokenFile = writeFile(t, "token", unsignedJWT(k.User))
	} else {
		s.SASL.Username, s.SASL.PasswordFile = k.User, k.PasswordFile
	}
	return s
}

func secureClient(t *testing.T, addr string, s Security, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts, err := ClientOptions(s)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestIntegrationSASLSSL produces and consumes a record through the real
// broker's SASL_SSL listener (TLS with a client certificate) with every
// supported mechanism, and checks that a wrong password, a missing client
// certificate and a plaintext connection are all refused.
func TestIntegrationSASLSSL(t *testing.T) {
	k := testenv.KafkaSASLSSL(t)
	for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512, SASLOAuthBearer} {
		t.Run(mech, func(t *testing.T) {
			topic := fmt.Sprintf("tether.sec.%s.%d", strings.ToLower(mech), time.Now().UnixNano())
			s := secureSecurity(t, k, mech)
			prod := secureClient(t, k.Addr, s, kgo.AllowAutoTopicCreation())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(mech)}).FirstErr(); err != nil {
				t.Fatalf("produce over SASL_SSL/%s: %v", mech, err)
			}
			cons := secureClient(t, k.Addr, s, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			var got []string
			for len(got) == 0 && ctx.Err() == nil {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil && ctx.Err() == nil {
					t.Fatalf("fetch over SASL_SSL/%s: %v", mech, err)
				}
				fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			}
			if len(got) != 1 || got[0] != mech {
				t.Fatalf("consumed %q, want [%q]", got, mech)
			}
		})
	}

	refused := func(t *testing.T, s Security, opts ...kgo.Opt) error {
		t.Helper()
		cl := secureClient(t, k.Addr, s, opts...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := cl.Ping(ctx)
		if err == nil {
			t.Fatal("the broker accepted the connection")
		}
		t.Logf("refused: %v", err)
		return err
	}
	t.Run("wrong password", func(t *testing.T) {
		s := secureSecurity(t, k, SASLScramSHA512)
		s.SASL.PasswordFile = writeFile(t, "wrong", "not-the-password")
		if err := refused(t, s); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("err = %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		s := secureSecurity(t, k, SASLScramSHA512)
		s.TLS.Certificates = nil
		if err := refused(t, s); !strings.Contains(err.Error(), "certificate") {
			t.Errorf("err = %v, want a TLS certificate error", err)
		}
	})
	t.Run("untrusted server", func(t *testing.T) {
		s := secureSecurity(t, k, SASLScramSHA512)
		s.TLS.RootCAs = nil // system roots do not know the test CA
		if err := refused(t, s); !strings.Contains(err.Error(), "certificate") {
			t.Errorf("err = %v, want a certificate verification error", err)
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		s := secureSecurity(t, k, SASLScramSHA512)
		s.TLS = nil
		_ = refused(t, s, kgo.RequestRetries(0))
	})
}

// TestIntegrationConsumerOverSASLSSL runs the consumer with its dead-letter
// producer, checkpoint producer and state-topic reader against the SASL_SSL
// listener only (SCRAM-SHA-512, client certificate): every client the
// consumer opens must take its TLS and SASL from Options.Security.
func TestIntegrationConsumerOverSASLSSL(t *testing.T) {
	k := testenv.KafkaSASLSSL(t)
	sec := secureSecurity(t, k, SASLScramSHA512)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	opts := testOptions([]string{k.Addr})
	opts.Security = sec
	opts.Group = "sec-" + suffix
	opts.Topic = "tether.sec.events." + suffix
	opts.DeadLetterTopic = "tether.sec.dlq." + suffix
	opts.StateTopic = "tether.sec.state." + suffix
	opts.CheckpointEvery = time.Nanosecond // a checkpoint after every batch

	now := time.Now().UTC()
	recs := []*kgo.Record{
		{Topic: opts.Topic, Key: []byte("a1"), Value: event("e1", "a1", "s1", models.KindSessionStart, now)},
		{Topic: opts.Topic, Key: []byte("a1"), Value: event("e2", "a1", "s1", models.KindToolCall, now.Add(time.Second))},
		{Topic: opts.Topic, Key: []byte("bad"), Value: []byte(`{not json`)},
	}
	prod := secureClient(t, k.Addr, sec, kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	ms := newMemSink()
	cons, err := New(opts, ms)
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, cons, func() bool {
		s := cons.Stats()
		return s.Consumed == int64(len(recs)) && s.Commits > 0 && s.Checkpoints > 0
	}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ev, _, _ := ms.counts(); ev != 2 {
		t.Errorf("sink got %d events, want 2", ev)
	}
	read := func(topic string) []*kgo.Record {
		cl := secureClient(t, k.Addr, sec, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var out []*kgo.Record
		for len(out) == 0 && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
		}
		return out
	}
	if dl := read(opts.DeadLetterTopic); len(dl) != 1 || string(dl[0].Value) != `{not json` {
		t.Errorf("dead letters over SASL_SSL: %d records", len(dl))
	}
	if st := read(opts.StateTopic); len(st) == 0 {
		t.Error("no checkpoint on the state topic")
	}

	// A second member restores the checkpoint through the state-topic
	// reader (another client built from Options.Security).
	opts2 := opts
	cons2, err := New(opts2, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, cons2, func() bool { return cons2.Stats().Restores > 0 }); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
