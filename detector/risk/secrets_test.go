package risk

import (
	"strings"
	"testing"
	"time"
)

func TestSecretRules(t *testing.T) {
	start := time.Now()
	s, err := defaultSecrets()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rules (%d without keywords, %d short keywords) compiled in %v", len(s.rules), len(s.always), len(s.kw.short), time.Since(start))
	if len(s.rules) < 200 {
		t.Fatalf("only %d gitleaks rules loaded", len(s.rules))
	}
	key := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naFDrBz9vFqU4yY3jLmMxHe3xRlZkFOQIDAQABAoIBAQC5bGWmHxYcZbBbbPkG4MSp\n-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name, text, rule string
	}{
		{"private key", "here it is: " + key, "private-key"},
		{"aws access key", "aws_access_key_id=AKIAZ3MSJV4WWNKWW5FG", "aws-access-token"},
		{"github pat", "token ghp_8Kx2TfQZc9LmNw3RvYp7HbJd4GsEa1UoXi6C please", "github-pat"},
		{"slack bot token", "xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1", "slack-bot-token"},
		{"stripe", "sk_live_51HCOBxJ2xKk9Ow3PqLmNbVcXz4T", "stripe-access-token"},
		{"plain prose", "Please send the quarterly report to the finance team by Friday.", ""},
		{"iban", "Pay GB29NWBK60161331926819 the amount of 100", ""},
		{"password word", "the password is in the usual place", ""},
	}
	var sc scanner
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hit, ok := s.scan(&sc, tt.text, appendLower(nil, tt.text))
			got := ""
			if ok {
				got = hit.rule.id
			}
			if got != tt.rule && !(tt.rule != "" && strings.HasPrefix(got, tt.rule)) {
				t.Errorf("scan(%q) = %q, want %q", tt.text, got, tt.rule)
			}
		})
	}
}
