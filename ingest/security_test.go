package ingest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"go.yaml.in/yaml/v3"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretNeverPrinted(t *testing.T) {
	const v = "hunter2-very-secret"
	s := Secret(v)
	type holder struct {
		User string
		Pass Secret
	}
	h := holder{User: "u", Pass: s}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s"} {
		outs = append(outs, fmt.Sprintf(f, s), fmt.Sprintf(f, h), fmt.Sprintf(f, &h))
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j), string(y), s.String())
	for _, o := range outs {
		if strings.Contains(o, v) || strings.Contains(o, fmt.Sprintf("%x", v)) {
			t.Errorf("secret leaked: %q", o)
		}
	}
	if !strings.Contains(string(j), redacted) || !strings.Contains(string(y), redacted) {
		t.Errorf("redaction marker missing: %s / %s", j, y)
	}
	if s.Reveal() != v {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
	if Secret("").String() != "" {
		t.Error("empty secret should print empty")
	}
	// Decoding YAML into a Secret keeps the value (no TextUnmarshaler).
	var back holder
	if err := yaml.Unmarshal([]byte("user: u\npass: "+v+"\n"), &back); err != nil || back.Pass.Reveal() != v {
		t.Errorf("yaml decode: %v %v", err, back.Pass == s)
	}
}

func TestClientOptionsValidation(t *testing.T) {
	pw := writeFile(t, "pw", "file-password\n")
	empty := writeFile(t, "empty", "\n")
	token := writeFile(t, "token", "header.payload.\n")
	on := &tls.Config{MinVersion: tls.VersionTLS12}
	tests := []struct {
		name    string
		sec     Security
		wantErr string // substring; "" means valid
		opts    int    // number of client options when valid
	}{
		{name: "nothing", sec: Security{}, opts: 0},
		{name: "client id only", sec: Security{ClientID: "tether"}, opts: 1},
		{name: "tls only", sec: Security{TLS: on}, opts: 1},
		{name: "scram-512 inline", sec: Security{SASL: SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}}, opts: 1},
		{name: "scram-256 file, lower case", sec: Security{SASL: SASL{Mechanism: "scram-sha-256", Username: "u", PasswordFile: pw}}, opts: 1},
		{name: "plain over tls", sec: Security{ClientID: "c", TLS: on, SASL: SASL{Mechanism: "PLAIN", Username: "u", PasswordFile: pw}}, opts: 3},
		{name: "oauth over tls", sec: Security{TLS: on, SASL: SASL{Mechanism: "OAUTHBEARER", TokenFile: token}}, opts: 2},
		{name: "plain without tls", sec: Security{SASL: SASL{Mechanism: "PLAIN", Username: "u", Password: "p"}}, wantErr: "in clear"},
		{name: "oauth without tls", sec: Security{SASL: SASL{Mechanism: "OAUTHBEARER", Token: "t"}}, wantErr: "in clear"},
		{name: "unknown mechanism", sec: Security{TLS: on, SASL: SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, wantErr: "sasl mechanism"},
		{name: "no username", sec: Security{SASL: SASL{Mechanism: "SCRAM-SHA-512", Password: "p"}}, wantErr: "username"},
		{name: "no password", sec: Security{SASL: SASL{Mechanism: "SCRAM-SHA-512", Username: "u"}}, wantErr: "missing"},
		{name: "password and file", sec: Security{SASL: SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p", PasswordFile: pw}}, wantErr: "both set"},
		{name: "missing file", sec: Security{SASL: SASL{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: pw + ".nope"}}, wantErr: "no such file"},
		{name: "empty file", sec: Security{SASL: SASL{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: empty}}, wantErr: "is empty"},
		{name: "token for scram", sec: Security{SASL: SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p", Token: "t"}}, wantErr: "not a token"},
		{name: "password for oauth", sec: Security{TLS: on, SASL: SASL{Mechanism: "OAUTHBEARER", Token: "t", Password: "p"}}, wantErr: "not a password"},
		{name: "credentials without mechanism", sec: Security{SASL: SASL{Username: "u", Password: "p"}}, wantErr: "mechanism is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := ClientOptions(tt.sec)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrSecurity) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrSecurity containing %q", err, tt.wantErr)
				}
				for _, secret := range []string{"file-password", string(tt.sec.SASL.Password.Reveal())} {
					if secret != "" && len(secret) > 1 && strings.Contains(err.Error(), secret) {
						t.Errorf("error reveals a secret: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(opts) != tt.opts {
				t.Errorf("%d options, want %d", len(opts), tt.opts)
			}
		})
	}
}

// TestSASLFileRotation: a secret file is read at every authentication, so
// a rotated password reaches the next connection.
func TestSASLFileRotation(t *testing.T) {
	pw := writeFile(t, "pw", "first\n")
	mech, err := SASL{Mechanism: SASLPlain, Username: "agent", PasswordFile: pw}.mechanism(true)
	if err != nil {
		t.Fatal(err)
	}
	initial := func(m sasl.Mechanism) string {
		t.Helper()
		_, msg, err := m.Authenticate(context.Background(), "127.0.0.1:9094")
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	if got := initial(mech); got != "\x00agent\x00first" {
		t.Fatalf("PLAIN initial message %q", got)
	}
	if err := os.WriteFile(pw, []byte("second\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := initial(mech); got != "\x00agent\x00second" {
		t.Fatalf("after rotation: PLAIN initial message %q", got)
	}
	if err := os.Remove(pw); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mech.Authenticate(context.Background(), "127.0.0.1:9094"); !errors.Is(err, ErrSecurity) {
		t.Fatalf("removed file: %v, want ErrSecurity", err)
	}

	tok := writeFile(t, "tok", "tok-1\n")
	om, err := SASL{Mechanism: SASLOAuthBearer, TokenFile: tok}.mechanism(true)
	if err != nil {
		t.Fatal(err)
	}
	if got := initial(om); !strings.Contains(got, "auth=Bearer tok-1\x01") {
		t.Fatalf("OAUTHBEARER initial message %q", got)
	}
	if err := os.WriteFile(tok, []byte("tok-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := initial(om); !strings.Contains(got, "auth=Bearer tok-2\x01") {
		t.Fatalf("OAUTHBEARER after rotation %q", got)
	}
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestPKI(t, dir)
	junk := writeFile(t, "junk.pem", "not a certificate")
	tests := []struct {
		name    string
		files   TLSFiles
		wantErr string
		check   func(t *testing.T, c *tls.Config)
	}{
		{name: "system roots", files: TLSFiles{}, check: func(t *testing.T, c *tls.Config) {
			if c.RootCAs != nil || len(c.Certificates) != 0 || c.MinVersion != tls.VersionTLS12 {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "ca and client cert", files: TLSFiles{CAFile: ca, CertFile: cert, KeyFile: key, ServerName: "kafka.internal"}, check: func(t *testing.T, c *tls.Config) {
			if c.RootCAs == nil || len(c.Certificates) != 1 || c.ServerName != "kafka.internal" {
				t.Errorf("config: roots %v, %d certs, server name %q", c.RootCAs != nil, len(c.Certificates), c.ServerName)
			}
		}},
		{name: "missing ca", files: TLSFiles{CAFile: ca + ".nope"}, wantErr: "ca file"},
		{name: "ca without pem", files: TLSFiles{CAFile: junk}, wantErr: "no PEM certificate"},
		{name: "cert without key", files: TLSFiles{CertFile: cert}, wantErr: "together"},
		{name: "key without cert", files: TLSFiles{KeyFile: key}, wantErr: "together"},
		{name: "key is not a key", files: TLSFiles{CertFile: cert, KeyFile: junk}, wantErr: "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.files.Config()
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrSecurity) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrSecurity containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestConsumerClientsShareSecurity: the consumer's clients (group consumer,
// checkpoint producer) are built with Options.Security, so
// kafka.client_id reaches the brokers; invalid security fails New.
func TestConsumerClientsShareSecurity(t *testing.T) {
	c := newCluster(t)
	opts := testOptions(c.ListenAddrs())
	opts.Security = Security{ClientID: "tether-prod-7"}
	cons, err := New(opts, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for name, cl := range map[string]*kgo.Client{"consumer": cons.cl, "checkpoint producer": cons.prod} {
		if got := cl.OptValue(kgo.ClientID); got != "tether-prod-7" {
			t.Errorf("%s client id %v, want tether-prod-7", name, got)
		}
	}
	opts.Security.SASL = SASL{Mechanism: SASLPlain, Username: "u", Password: "p"} // PLAIN without TLS
	if _, err := New(opts, newMemSink()); !errors.Is(err, ErrConfig) || !errors.Is(err, ErrSecurity) {
		t.Fatalf("New with PLAIN over plaintext: %v, want ErrConfig and ErrSecurity", err)
	}
}
