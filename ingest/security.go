package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// ErrSecurity is wrapped by every error about TLS or SASL settings: an
// unknown mechanism, a missing credential, an unreadable certificate or
// secret file. Messages name the setting and the file, never a secret.
var ErrSecurity = errors.New("invalid TLS or SASL settings")

// SASL mechanism names accepted by SASL.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
	SASLOAuthBearer = "OAUTHBEARER"
)

// redacted replaces a non-empty Secret wherever it would be printed.
const redacted = "[REDACTED]"

// Secret is a credential (a password, a bearer token). Printing it with any
// fmt verb, or marshalling it as JSON, YAML or text, yields "[REDACTED]"
// (or "" when it is empty), so a configuration dump cannot leak it; Reveal
// returns the value for the one place that sends it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[REDACTED]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, %q, %x …)
// prints String.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalText implements encoding.TextMarshaler (used by encoding/json and
// YAML encoders) with the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// TLSFiles names the PEM files of a TLS client configuration. It is used for
// the Kafka brokers and, by cmd/tether, for ClickHouse.
type TLSFiles struct {
	// CAFile holds the certificate authorities that sign the server's
	// certificate; empty trusts the system's roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and its key, for
	// servers that require client authentication; both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked against the server's
	// certificate; empty checks the host that is dialled.
	ServerName string
}

// Config loads the files into a TLS 1.2+ client configuration.
func (f TLSFiles) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls ca file: %w", ErrSecurity, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls ca file %s holds no PEM certificate", ErrSecurity, f.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case f.CertFile != "" && f.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			// The error names the files, not the key material.
			return nil, fmt.Errorf("%w: tls client certificate %s / key %s: %w", ErrSecurity, f.CertFile, f.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case f.CertFile != "" || f.KeyFile != "":
		return nil, fmt.Errorf("%w: tls client certificate and key must be given together", ErrSecurity)
	}
	return c, nil
}

// SASL configures authentication to the brokers. A credential comes either
// inline (Password, Token) or from a file (PasswordFile, TokenFile); a file
// is read again at every authentication, so a rotated password or token is
// picked up by the next connection without a restart.
type SASL struct {
	// Mechanism is one of SASLPlain, SASLScramSHA256, SASLScramSHA512 or
	// SASLOAuthBearer; empty disables SASL.
	Mechanism string
	// Username authenticates PLAIN and SCRAM.
	Username string
	// Password or PasswordFile (one of them) for PLAIN and SCRAM.
	Password     Secret
	PasswordFile string
	// Token or TokenFile (one of them) is the OAUTHBEARER bearer token,
	// typically a JWT obtained from the identity provider.
	Token     Secret
	TokenFile string
}

// Security is what every Kafka client of the process shares besides the
// seed brokers: the client id, TLS and SASL.
type Security struct {
	// ClientID is sent to the brokers with every request (quotas, broker
	// logs); empty keeps franz-go's default.
	ClientID string
	// TLS, when not nil, encrypts the connections to the brokers.
	TLS *tls.Config
	// SASL authenticates the connections.
	SASL SASL
}

// ClientOptions turns s into franz-go client options: the one place where
// Tether's Kafka clients (the consumer, the dead-letter and checkpoint
// producers, the state-topic reader, the control and OCSF publishers, and
// sink/control consumers via control.KafkaOpts) get their client id, TLS and
// SASL. It checks s: PLAIN and OAUTHBEARER need TLS (they would send the
// credential in clear), and every secret file must be readable and
// non-empty now.
func ClientOptions(s Security) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.ClientID != "" {
		opts = append(opts, kgo.ClientID(s.ClientID))
	}
	if s.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(s.TLS))
	}
	mech, err := s.SASL.mechanism(s.TLS != nil)
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// mechanism validates the settings and returns the franz-go mechanism, nil
// when SASL is disabled.
func (s SASL) mechanism(tlsOn bool) (sasl.Mechanism, error) {
	name := strings.ToUpper(strings.TrimSpace(s.Mechanism))
	if name == "" {
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" || s.Token != "" || s.TokenFile != "" {
			return nil, fmt.Errorf("%w: sasl credentials are set but sasl mechanism is empty", ErrSecurity)
		}
		return nil, nil
	}
	switch name {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.Username == "" {
			return nil, fmt.Errorf("%w: sasl %s needs a username", ErrSecurity, name)
		}
		if s.Token != "" || s.TokenFile != "" {
			return nil, fmt.Errorf("%w: sasl %s takes a password, not a token", ErrSecurity, name)
		}
		if err := checkOne("password", s.Password, s.PasswordFile); err != nil {
			return nil, err
		}
	case SASLOAuthBearer:
		if s.Password != "" || s.PasswordFile != "" {
			return nil, fmt.Errorf("%w: sasl %s takes a token, not a password", ErrSecurity, name)
		}
		if err := checkOne("token", s.Token, s.TokenFile); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: sasl mechanism %q (want %s, %s, %s or %s)", ErrSecurity, s.Mechanism,
			SASLPlain, SASLScramSHA256, SASLScramSHA512, SASLOAuthBearer)
	}
	if !tlsOn && (name == SASLPlain || name == SASLOAuthBearer) {
		return nil, fmt.Errorf("%w: sasl %s sends the credential in clear: enable tls", ErrSecurity, name)
	}
	user := s.Username
	password := func() (string, error) { return secretValue("password", s.Password, s.PasswordFile) }
	switch name {
	case SASLPlain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			p, err := password()
			return plain.Auth{User: user, Pass: p}, err
		}), nil
	case SASLScramSHA256, SASLScramSHA512:
		fn := func(context.Context) (scram.Auth, error) {
			p, err := password()
			return scram.Auth{User: user, Pass: p}, err
		}
		if name == SASLScramSHA256 {
			return scram.Sha256(fn), nil
		}
		return scram.Sha512(fn), nil
	default: // OAUTHBEARER
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			t, err := secretValue("token", s.Token, s.TokenFile)
			return oauth.Auth{Token: t}, err
		}), nil
	}
}

// checkOne requires exactly one of an inline secret and a secret file, and
// a readable, non-empty file.
func checkOne(what string, inline Secret, file string) error {
	switch {
	case inline != "" && file != "":
		return fmt.Errorf("%w: sasl %s and %s file are both set (use one)", ErrSecurity, what, what)
	case inline == "" && file == "":
		return fmt.Errorf("%w: sasl %s is missing (inline or from a file)", ErrSecurity, what)
	}
	_, err := secretValue(what, inline, file)
	return err
}

// secretValue returns the inline secret, or the file's content without its
// trailing line break.
func secretValue(what string, inline Secret, file string) (string, error) {
	if file == "" {
		return inline.Reveal(), nil
	}
	v, err := ReadSecretFile(file)
	if err != nil {
		return "", fmt.Errorf("sasl %s: %w", what, err)
	}
	return v, nil
}

// ReadSecretFile returns the content of a secret file without its trailing
// line break ("\n" or "\r\n"). An unreadable or empty file is an error
// wrapping ErrSecurity that names the file, not its content.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: secret file: %w", ErrSecurity, err)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return "", fmt.Errorf("%w: secret file %s is empty", ErrSecurity, path)
	}
	return v, nil
}
