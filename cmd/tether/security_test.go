package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// selfSigned writes a self-signed certificate and its key (PEM) into dir;
// the certificate doubles as a CA file.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestSecurityConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "c.yaml")
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults: no tls, no sasl, client id tether", check: func(t *testing.T, c Config) {
			sec, err := c.kafkaSecurity()
			if err != nil || sec.TLS != nil || sec.SASL.Mechanism != "" || sec.ClientID != "tether" {
				t.Errorf("security %+v, %v", sec, err)
			}
		}},
		{name: "scram over tls from the file", file: fmt.Sprintf(`kafka:
  client_id: tether-prod
  tls: {enabled: true, ca_file: %s, cert_file: %s, key_file: %s, server_name: kafka.internal}
  sasl: {mechanism: SCRAM-SHA-512, username: tether, password_file: %s}
`, cert, cert, key, pwFile), check: func(t *testing.T, c Config) {
			sec, err := c.kafkaSecurity()
			if err != nil {
				t.Fatal(err)
			}
			if sec.ClientID != "tether-prod" || sec.TLS == nil || sec.TLS.ServerName != "kafka.internal" || len(sec.TLS.Certificates) != 1 ||
				sec.SASL.Mechanism != "SCRAM-SHA-512" || sec.SASL.PasswordFile != pwFile {
				t.Errorf("security %+v", sec)
			}
		}},
		{name: "sasl from the environment", env: map[string]string{
			"TETHER_KAFKA_TLS_ENABLED": "true", "TETHER_KAFKA_TLS_CA_FILE": cert, "TETHER_KAFKA_CLIENT_ID": "env-id",
			"TETHER_KAFKA_SASL_MECHANISM": "PLAIN", "TETHER_KAFKA_SASL_USERNAME": "u", "TETHER_KAFKA_SASL_PASSWORD": "env-pw",
		}, check: func(t *testing.T, c Config) {
			sec, err := c.kafkaSecurity()
			if err != nil || sec.ClientID != "env-id" || sec.SASL.Password.Reveal() != "env-pw" || sec.TLS == nil {
				t.Errorf("security %+v, %v", sec, err)
			}
		}},
		{name: "clickhouse password file and tls", file: fmt.Sprintf("clickhouse:\n  addr: 127.0.0.1:9440\n  password_file: %s\n  tls: {enabled: true, ca_file: %s}\n", pwFile, cert),
			check: func(t *testing.T, c Config) {
				pw, err := c.clickHousePassword()
				if err != nil || pw != "from-a-file" {
					t.Errorf("password %q, %v", pw, err)
				}
				if tc, err := c.ClickHouse.TLS.build("clickhouse.tls"); err != nil || tc == nil || tc.RootCAs == nil {
					t.Errorf("tls %v, %v", tc, err)
				}
			}},
		{name: "plain without tls", env: map[string]string{"TETHER_KAFKA_SASL_MECHANISM": "PLAIN", "TETHER_KAFKA_SASL_USERNAME": "u", "TETHER_KAFKA_SASL_PASSWORD": "p"}, wantErr: "in clear"},
		{name: "unknown mechanism", file: "kafka:\n  sasl: {mechanism: KERBEROS, username: u, password: p}\n", wantErr: "sasl mechanism"},
		{name: "missing password file", file: "kafka:\n  sasl: {mechanism: SCRAM-SHA-256, username: u, password_file: /nonexistent/pw}\n", wantErr: "/nonexistent/pw"},
		{name: "password and password_file", file: fmt.Sprintf("kafka:\n  sasl: {mechanism: SCRAM-SHA-256, username: u, password: p, password_file: %s}\n", pwFile), wantErr: "both set"},
		{name: "tls files while disabled", file: fmt.Sprintf("kafka:\n  tls: {ca_file: %s}\n", cert), wantErr: "kafka.tls.enabled is false"},
		{name: "missing ca file", env: map[string]string{"TETHER_KAFKA_TLS_ENABLED": "1", "TETHER_KAFKA_TLS_CA_FILE": "/nonexistent/ca.crt"}, wantErr: "kafka.tls"},
		{name: "cert without key", file: fmt.Sprintf("kafka:\n  tls: {enabled: true, cert_file: %s}\n", cert), wantErr: "together"},
		{name: "clickhouse tls bad ca", file: fmt.Sprintf("clickhouse:\n  tls: {enabled: true, ca_file: %s}\n", pwFile), wantErr: "clickhouse.tls"},
		{name: "clickhouse password and file", env: map[string]string{"TETHER_CLICKHOUSE_PASSWORD": "p", "TETHER_CLICKHOUSE_PASSWORD_FILE": pwFile}, wantErr: "both set"},
		{name: "clickhouse password file missing", env: map[string]string{"TETHER_CLICKHOUSE_PASSWORD_FILE": "/nonexistent/chpw"}, wantErr: "/nonexistent/chpw"},
		{name: "bad tls bool", env: map[string]string{"TETHER_KAFKA_TLS_ENABLED": "sometimes"}, wantErr: "TETHER_KAFKA_TLS_ENABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				if err := os.WriteFile(cfgFile, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				path = cfgFile
			}
			c, err := loadConfig(path, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want errConfig containing %q", err, tt.wantErr)
				}
				for _, secret := range []string{"from-a-file", "env-pw"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error reveals a secret: %v", err)
					}
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

// TestConfigDumpRedactsSecrets: the start-up configuration log line, and
// any fmt/JSON/YAML rendering of a Config, carry every setting but no
// secret, whether it came from the file or the environment.
func TestConfigDumpRedactsSecrets(t *testing.T) {
	dir := t.TempDir()
	cert, _ := selfSigned(t, dir)
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`kafka:
  client_id: dump-client
  tls: {enabled: true, ca_file: %s}
  sasl: {mechanism: OAUTHBEARER, token: yaml-bearer-token-42}
clickhouse:
  password: yaml-clickhouse-password-17
`, cert)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TETHER_KAFKA_SASL_USERNAME": "dump-user"}
	c, err := loadConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The secrets are really there, for the clients that need them.
	if c.Kafka.SASL.Token.Reveal() != "yaml-bearer-token-42" || c.ClickHouse.Password.Reveal() != "yaml-clickhouse-password-17" {
		t.Fatal("secrets not loaded")
	}
	secrets := []string{"yaml-bearer-token-42", "yaml-clickhouse-password-17"}

	var logged bytes.Buffer
	log := zerolog.New(&logged)
	log.Info().Object("config", c).Msg("configuration (secrets redacted)")
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	renderings := map[string]string{
		"log": logged.String(), "json": string(j), "yaml": string(y),
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
	}
	for name, out := range renderings {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s rendering leaks %q:\n%s", name, s, out)
			}
		}
	}
	// The dump is complete otherwise: names and settings are there, the
	// secrets' places say so.
	var line struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(logged.Bytes(), &line); err != nil {
		t.Fatalf("log line: %v\n%s", err, logged.String())
	}
	k, _ := line.Config["kafka"].(map[string]any)
	ch, _ := line.Config["clickhouse"].(map[string]any)
	sasl, _ := k["sasl"].(map[string]any)
	tls, _ := k["tls"].(map[string]any)
	if k["client_id"] != "dump-client" || sasl["mechanism"] != "OAUTHBEARER" || sasl["username"] != "dump-user" ||
		sasl["token"] != "[REDACTED]" || tls["ca_file"] != cert || ch["password"] != "[REDACTED]" || line.Config["shutdown_timeout"] != "30s" {
		t.Errorf("config dump incomplete: %s", logged.String())
	}
}
