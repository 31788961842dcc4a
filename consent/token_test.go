package consent

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func testSigner(t testing.TB) *Signer {
	s, err := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIssueVerify(t *testing.T) {
	s := testSigner(t)
	tok, issued, err := s.Issue(42, 7, "erika@example.org", "support", now.Add(90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if got != issued || got.Ticket != 42 || got.Person != 7 || got.Purpose != "support" || len(got.ID) != 32 {
		t.Errorf("Verify = %+v, issued %+v", got, issued)
	}
	tok2, _, _ := s.Issue(42, 7, "erika@example.org", "support", now.Add(time.Hour))
	if tok2 == tok {
		t.Error("two tokens for the same claims are equal; ids must differ")
	}
	if len(tok) > MaxTokenLen {
		t.Errorf("token is %d bytes, over MaxTokenLen", len(tok))
	}
}

func TestVerifyRejects(t *testing.T) {
	s := testSigner(t)
	tok, _, _ := s.Issue(42, 7, "erika@example.org", "support", now.Add(time.Hour))
	other, _ := NewSigner([]byte("another key of 32 bytes, exactly"))
	otherTok, _, _ := other.Issue(42, 7, "erika@example.org", "support", now.Add(time.Hour))
	enc, sig, _ := strings.Cut(tok, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, token string
		at          time.Time
		want        error
	}{
		{"expired", tok, now.Add(time.Hour), ErrExpired},
		{"payload changed", flip(enc, 30) + "." + sig, now, ErrSignature},
		{"signature changed", enc + "." + flip(sig, 3), now, ErrSignature},
		{"other key", otherTok, now, ErrSignature},
		{"no dot", enc + sig, now, ErrMalformed},
		{"empty", "", now, ErrMalformed},
		{"not base64", "!!!.???", now, ErrMalformed},
		{"short signature", enc + "." + sig[:10], now, ErrMalformed},
		{"too long", strings.Repeat("a", MaxTokenLen+1), now, ErrMalformed},
	} {
		if _, err := s.Verify(tc.token, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestLoadKeyCreatesOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	s1, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != keySize {
		t.Fatalf("key file: %v %v", fi, err)
	}
	tok, _, _ := s1.Issue(1, 1, "erika@example.org", "support", now.Add(time.Hour))
	s2, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Verify(tok, now); err != nil {
		t.Errorf("a token from before a restart no longer verifies: %v", err)
	}
	os.WriteFile(filepath.Join(dir, keyFile), []byte("short"), 0o600)
	if _, err := LoadKey(dir); err == nil {
		t.Error("a truncated key file was accepted")
	}
}

func FuzzVerify(f *testing.F) {
	s := testSigner(f)
	tok, _, _ := s.Issue(42, 7, "erika@example.org", "support", now.Add(time.Hour))
	f.Add(tok)
	f.Add("")
	f.Add(".")
	f.Add("AQ.AQ")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Verify(token, now)
		if err == nil {
			// Only a token this signer issued verifies: re-signing the claims must reproduce it.
			if c.Purpose == "" || c.Expires.Before(now) {
				t.Fatalf("verified claims %+v", c)
			}
			enc, _, _ := strings.Cut(token, ".")
			p, _ := b64.DecodeString(enc)
			if b64.EncodeToString(p)+"."+b64.EncodeToString(s.mac(p)) != token {
				t.Fatalf("verified a token that is not the canonical signature of its payload: %q", token)
			}
		}
	})
}

// A token is bound to the address it was mailed to, by a keyed digest: the
// address is not in it, and another address does not match.
func TestTokenBindsRecipient(t *testing.T) {
	s := testSigner(t)
	tok, c, err := s.Issue(42, 7, "Erika@Example.org", "support", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok, now)
	if err != nil || got.Version != 2 {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	for addr, want := range map[string]bool{"erika@example.org": true, " ERIKA@example.org ": true,
		"mallory@evil.example": false, "": false, "erika@example.org.evil.example": false} {
		if s.MailedTo(got, addr) != want || s.MailedTo(c, addr) != want {
			t.Errorf("MailedTo(%q) = %v, want %v", addr, !want, want)
		}
	}
	other, _ := NewSigner([]byte("another key of 32 bytes, exactly"))
	if other.MailedTo(got, "erika@example.org") {
		t.Error("the digest does not depend on the key")
	}
	enc, _, _ := strings.Cut(tok, ".")
	raw, _ := b64.DecodeString(enc)
	if strings.Contains(strings.ToLower(string(raw)), "erika") {
		t.Error("the token carries the address in clear")
	}
	if _, _, err := s.Issue(42, 7, " ", "support", now.Add(time.Hour)); err == nil {
		t.Error("a token without a recipient was issued")
	}
}

// A version 1 token (before the binding) still verifies, and is bound to no address.
func TestVersion1TokenVerifies(t *testing.T) {
	s := testSigner(t)
	p := make([]byte, fixedSize1)
	p[0] = version1
	p[1] = 0xab
	binary.BigEndian.PutUint64(p[17:], 42)
	binary.BigEndian.PutUint64(p[25:], 7)
	binary.BigEndian.PutUint64(p[33:], uint64(now.Add(time.Hour).Unix()))
	p = append(p, "support"...)
	tok := b64.EncodeToString(p) + "." + b64.EncodeToString(s.mac(p))
	c, err := s.Verify(tok, now)
	if err != nil || c.Version != 1 || c.Ticket != 42 || c.Person != 7 || c.Purpose != "support" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	if s.MailedTo(c, "erika@example.org") {
		t.Error("a version 1 token is bound to an address")
	}
}
