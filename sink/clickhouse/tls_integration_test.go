package clickhouse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/deploy/testenv"
)

// TestIntegrationTLS writes a batch through the server's secure native port
// (tcp_port_secure) and reads it back over the same TLS connection; a
// plaintext client and a client that does not trust the server's CA are
// refused.
func TestIntegrationTLS(t *testing.T) {
	sec := testenv.ClickHouseTLS(t)
	pem, err := os.ReadFile(sec.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", sec.CAFile)
	}
	o := testOptions(t) // database dropped over the plain port at cleanup
	o.Addr = sec.Addr
	o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	w := openT(t, o)
	t.Logf("server %s over TLS at %s", w.ServerVersion(), sec.Addr)
	if err := w.Write(context.Background(), sample(time.Now().UTC())); err != nil {
		t.Fatalf("Write over TLS: %v", err)
	}
	for table, want := range map[string]uint64{"events": 2, "findings": 1, "commands": 1} {
		if got := count(t, w, "SELECT count() FROM "+o.Database+"."+table+" FINAL"); got != want {
			t.Errorf("%s: %d rows over TLS, want %d", table, got, want)
		}
	}

	refused := func(name string, o Options) {
		t.Run(name, func(t *testing.T) {
			o.DialTimeout = 5 * time.Second
			o.ReadTimeout = 5 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			w, err := Open(ctx, o, zerolog.Nop())
			if err == nil {
				w.Close()
				t.Fatal("connected")
			}
			t.Logf("refused: %v", err)
		})
	}
	plain := o
	plain.TLS = nil
	refused("plaintext to the secure port", plain)
	untrusted := o
	untrusted.TLS = &tls.Config{MinVersion: tls.VersionTLS12} // system roots
	refused("untrusted certificate", untrusted)
}
