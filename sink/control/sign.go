package control

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// ErrKey is wrapped when a signing or public key cannot be loaded.
var ErrKey = errors.New("invalid control signing key")

// KeyID is the id of an Ed25519 public key in commands: "ed25519-" and the
// first 8 bytes of its SHA-256 in hex. It is derived, so a key needs no
// separately configured name and a consumer cannot mislabel one.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "ed25519-" + hex.EncodeToString(h[:8])
}

// Signer signs containment commands with one Ed25519 private key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a Signer for key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// GenerateSigner returns a Signer with a fresh random key (tests, the demo).
func GenerateSigner() (*Signer, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generate: %v", ErrKey, err)
	}
	return NewSigner(k), nil
}

// KeyID returns the id of the signer's key.
func (s *Signer) KeyID() string { return s.id }

// Public returns the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign sets c.KeyID and c.Signature. The command must already have its ID
// (SetID). Ed25519 is deterministic: the same command always gets the same
// signature, so replays stay byte-identical.
func (s *Signer) Sign(c *models.ContainmentCommand) {
	c.KeyID = s.id
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, c.SigningBytes()))
}

// Signed returns b with every command given its ID (when it has none) and
// signed, so that the analysts' stores hold each command as the control
// topic carries it (key_id and signature columns). b is not modified: the
// result is a copy when b has commands, b itself otherwise.
func (s *Signer) Signed(b *sink.Batch) *sink.Batch {
	if b == nil || len(b.Commands) == 0 {
		return b
	}
	c := *b
	c.Commands = slices.Clone(b.Commands)
	for i := range c.Commands {
		if c.Commands[i].ID == "" {
			c.Commands[i].SetID()
		}
		s.Sign(&c.Commands[i])
	}
	return &c
}

// PrivateKeyPEM encodes the signer's key as a PKCS #8 PEM block (the format
// of `openssl genpkey -algorithm ed25519`).
func (s *Signer) PrivateKeyPEM() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(s.key) // cannot fail for ed25519
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PublicKeyPEM encodes pub as a PKIX PEM block (`openssl pkey -pubout`).
func PublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // cannot fail for ed25519
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParseSigner parses a PKCS #8 PEM Ed25519 private key.
func ParseSigner(b []byte) (*Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: not a PEM \"PRIVATE KEY\" block", ErrKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an Ed25519 key", ErrKey, k)
	}
	return NewSigner(ek), nil
}

// LoadSignerFile reads a PKCS #8 PEM Ed25519 private key file. The error
// names the file, never the key.
func LoadSignerFile(path string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	s, err := ParseSigner(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParsePublicKey parses a PKIX PEM Ed25519 public key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: not a PEM \"PUBLIC KEY\" block", ErrKey)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an Ed25519 key", ErrKey, k)
	}
	return ek, nil
}

// LoadPublicKeyFile reads a PKIX PEM Ed25519 public key file.
func LoadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
