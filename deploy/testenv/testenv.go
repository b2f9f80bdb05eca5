// Package testenv locates the real services that integration tests run
// against: the Kafka broker and the ClickHouse server started by
// deploy/local/services.sh. When a service is unreachable a test is skipped
// on a developer machine, but fails when CI=true: CI must never pass by
// skipping its integration tests.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Environment variables naming the services, with their defaults.
const (
	KafkaEnv          = "TETHER_TEST_KAFKA"      // default 127.0.0.1:9092
	ClickHouseEnv     = "TETHER_TEST_CLICKHOUSE" // default 127.0.0.1:9000 (native protocol)
	defaultKafka      = "127.0.0.1:9092"
	defaultClickHouse = "127.0.0.1:9000"
)

// Environment variables naming the secured endpoints that
// deploy/local/services.sh starts for the TLS/SASL tests, and the files a
// client needs. An unset file variable defaults to the file the set-up
// generates under $TETHER_CACHE (default <repo>/.cache).
const (
	KafkaSASLSSLEnv          = "TETHER_TEST_KAFKA_SASL_SSL"           // default 127.0.0.1:9094
	KafkaCAEnv               = "TETHER_TEST_KAFKA_CA"                 // default kafka/tls/ca.crt
	KafkaClientCertEnv       = "TETHER_TEST_KAFKA_CLIENT_CERT"        // default kafka/tls/client.crt
	KafkaClientKeyEnv        = "TETHER_TEST_KAFKA_CLIENT_KEY"         // default kafka/tls/client.key
	KafkaSASLUserEnv         = "TETHER_TEST_KAFKA_SASL_USER"          // default tether
	KafkaSASLPasswordFileEnv = "TETHER_TEST_KAFKA_SASL_PASSWORD_FILE" // default kafka/sasl/tether.password
	ClickHouseTLSEnv         = "TETHER_TEST_CLICKHOUSE_TLS"           // default 127.0.0.1:9440 (secure native protocol)
	ClickHouseCAEnv          = "TETHER_TEST_CLICKHOUSE_CA"            // default clickhouse/tls/ca.crt
)

// KafkaSecure describes the broker's SASL_SSL listener: it requires a
// client certificate signed by the CA and SASL authentication (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER with an unsigned JWT whose
// subject is User).
type KafkaSecure struct {
	// Addr is the SASL_SSL listener, host:port.
	Addr string
	// CAFile signs the broker's certificate; CertFile and KeyFile are a
	// client certificate it accepts.
	CAFile, CertFile, KeyFile string
	// User and PasswordFile are the SASL credentials (PLAIN and SCRAM).
	User, PasswordFile string
}

// ClickHouseSecure describes ClickHouse's secure native port.
type ClickHouseSecure struct {
	// Addr is the secure native port, host:port.
	Addr string
	// CAFile signs the server's certificate.
	CAFile string
}

// CI reports whether the tests run under CI (CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// Kafka returns the broker address, or skips/fails t when it is unreachable.
func Kafka(t testing.TB) string { return need(t, "Kafka", KafkaEnv, defaultKafka) }

// ClickHouse returns the native-protocol address, or skips/fails t when it
// is unreachable.
func ClickHouse(t testing.TB) string { return need(t, "ClickHouse", ClickHouseEnv, defaultClickHouse) }

// KafkaSASLSSL returns the broker's SASL_SSL listener and credentials, or
// skips/fails t when the listener is unreachable or a file is missing.
func KafkaSASLSSL(t testing.TB) KafkaSecure {
	t.Helper()
	k := KafkaSecure{
		Addr:         need(t, "Kafka SASL_SSL listener", KafkaSASLSSLEnv, "127.0.0.1:9094"),
		CAFile:       file(t, KafkaCAEnv, "kafka/tls/ca.crt"),
		CertFile:     file(t, KafkaClientCertEnv, "kafka/tls/client.crt"),
		KeyFile:      file(t, KafkaClientKeyEnv, "kafka/tls/client.key"),
		User:         os.Getenv(KafkaSASLUserEnv),
		PasswordFile: file(t, KafkaSASLPasswordFileEnv, "kafka/sasl/tether.password"),
	}
	if k.User == "" {
		k.User = "tether"
	}
	return k
}

// ClickHouseTLS returns ClickHouse's secure native port and the CA of its
// certificate, or skips/fails t when it is unreachable or the CA is missing.
func ClickHouseTLS(t testing.TB) ClickHouseSecure {
	t.Helper()
	return ClickHouseSecure{
		Addr:   need(t, "ClickHouse secure native port", ClickHouseTLSEnv, "127.0.0.1:9440"),
		CAFile: file(t, ClickHouseCAEnv, "clickhouse/tls/ca.crt"),
	}
}

// file returns the path in env, else rel under the cache root, and
// skips/fails t when the file does not exist.
func file(t testing.TB, env, rel string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		path = filepath.Join(cacheRoot(), filepath.FromSlash(rel))
	}
	if _, err := os.Stat(path); err != nil {
		unavailable(t, "file "+path+" is missing ("+err.Error()+"); run deploy/local/services.sh up or set "+env)
	}
	return path
}

// cacheRoot is $TETHER_CACHE, else the repository's .cache folder.
func cacheRoot() string {
	if c := os.Getenv("TETHER_CACHE"); c != "" {
		return c
	}
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return ".cache"
	}
	return filepath.Join(filepath.Dir(self), "..", "..", ".cache")
}

func unavailable(t testing.TB, msg string) {
	t.Helper()
	if CI() {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg)
}

func need(t testing.TB, name, env, def string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		addr = def
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return addr
	}
	unavailable(t, name+" is not reachable at "+addr+" ("+err.Error()+"); start it with deploy/local/services.sh up or set "+env)
	return ""
}

// ChromiumEnv names the Chromium binary the console's browser tests drive
// (deploy/local/chromium.sh install prints it); default: chromium on PATH.
const ChromiumEnv = "TETHER_TEST_CHROMIUM"

// Chromium returns the path of a Chromium binary, or skips/fails t when
// there is none.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ChromiumEnv); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	unavailable(t, "no chromium binary; install it with deploy/local/chromium.sh install or set "+ChromiumEnv)
	return ""
}
