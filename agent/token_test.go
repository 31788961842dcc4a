package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ticketd/store"
	"ticketd/store/storetest"
)

func testSigner(t testing.TB, fill byte) *Signer {
	t.Helper()
	key := make([]byte, keySize)
	for i := range key {
		key[i] = fill
	}
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func issue(t testing.TB, s *Signer, mailbox string, ticket, agentID uint64) string {
	t.Helper()
	addr, err := s.Issue(mailbox, ticket, agentID)
	if err != nil {
		t.Fatalf("Issue(%q, %d, %d): %v", mailbox, ticket, agentID, err)
	}
	return addr
}

func TestIssueAndVerify(t *testing.T) {
	s := testSigner(t, 1)
	for _, tc := range []struct {
		mailbox, prefix, base string
		ticket, agent         uint64
	}{
		{"support@example.com", "support+t123.a7.", "support@example.com", 123, 7},
		{"Support@Example.COM", "support+t1.a1.", "support@example.com", 1, 1},
		{"help+de@example.com", "help+de+t42.a3.", "help+de@example.com", 42, 3},
		{"first.last@sub.example.org", "first.last+t9999999.a12345.", "first.last@sub.example.org", 9999999, 12345},
	} {
		addr := issue(t, s, tc.mailbox, tc.ticket, tc.agent)
		local, domain, _ := strings.Cut(addr, "@")
		if !strings.HasPrefix(addr, tc.prefix) || len(local) != len(tc.prefix)+macText || domain != tc.base[strings.IndexByte(tc.base, '@')+1:] {
			t.Errorf("Issue(%q) = %q, want %s<16 letters>@…", tc.mailbox, addr, tc.prefix)
		}
		for _, spelled := range []string{addr, strings.ToUpper(addr), " " + addr + " "} {
			got, err := s.Verify(spelled)
			if err != nil || got != (Token{Mailbox: tc.base, Ticket: tc.ticket, Agent: tc.agent}) {
				t.Errorf("Verify(%q) = %+v, %v", spelled, got, err)
			}
		}
		if again := issue(t, s, tc.mailbox, tc.ticket, tc.agent); again != addr {
			t.Errorf("Issue is not deterministic: %q, %q", addr, again)
		}
	}
}

// TestVerifyBindsEverything: the signature of one mailbox, ticket and agent
// is refused for any other, and under another key.
func TestVerifyBindsEverything(t *testing.T) {
	s := testSigner(t, 1)
	addr := issue(t, s, "support@example.com", 123, 7)
	local, _, _ := strings.Cut(addr, "@")
	mac := local[len(local)-macText:]
	for _, forged := range []string{
		"support+t124.a7." + mac + "@example.com", // another ticket
		"support+t123.a8." + mac + "@example.com", // another agent
		"support+t7.a123." + mac + "@example.com", // swapped
		"sales+t123.a7." + mac + "@example.com",   // another mailbox
		"support+t123.a7." + mac + "@example.org", // another domain
		"support+t123.a7." + mac + "@example.com.evil.example",
	} {
		if _, err := s.Verify(forged); !errors.Is(err, ErrSignature) {
			t.Errorf("Verify(%q) = %v, want ErrSignature", forged, err)
		}
	}
	if _, err := testSigner(t, 2).Verify(addr); !errors.Is(err, ErrSignature) {
		t.Errorf("another key: %v, want ErrSignature", err)
	}
}

// TestEveryOneCharacterChangeIsRefused: replacing any one character of a
// reply address by any other printable character (other than the same
// letter in the other case) never yields an address that verifies.
func TestEveryOneCharacterChangeIsRefused(t *testing.T) {
	s := testSigner(t, 3)
	addr := issue(t, s, "support@example.com", 123, 7)
	tried := 0
	for i := range len(addr) {
		for c := byte(0x21); c < 0x7f; c++ {
			if strings.EqualFold(string(c), addr[i:i+1]) {
				continue
			}
			changed := addr[:i] + string(c) + addr[i+1:]
			tried++
			if tok, err := s.Verify(changed); err == nil {
				t.Errorf("Verify(%q) = %+v, want an error", changed, tok)
			}
		}
	}
	// Deleting or doubling a character, too.
	for i := range len(addr) {
		for _, changed := range []string{addr[:i] + addr[i+1:], addr[:i] + addr[i:i+1] + addr[i:]} {
			tried++
			if tok, err := s.Verify(changed); err == nil && !strings.EqualFold(changed, addr) {
				t.Errorf("Verify(%q) = %+v, want an error", changed, tok)
			}
		}
	}
	if tried < 1000 {
		t.Fatalf("only %d changes tried", tried)
	}
}

func TestVerifyKinds(t *testing.T) {
	s := testSigner(t, 1)
	good := issue(t, s, "support@example.com", 123, 7)
	mac := good[strings.IndexByte(good, '@')-macText : strings.IndexByte(good, '@')]
	for _, tc := range []struct {
		addr string
		want error
	}{
		{"support@example.com", ErrNotToken},
		{"support+de@example.com", ErrNotToken},
		{"support+t1.a2@example.com", ErrNotToken},
		{"support+x1.a2." + mac + "@example.com", ErrNotToken},
		{"support+t1.b2." + mac + "@example.com", ErrNotToken},
		{"no-at-sign", ErrNotToken},
		{"", ErrNotToken},
		{strings.Repeat("a", 300) + "+t1.a2." + mac + "@example.com", ErrNotToken},
		{"support+t0123.a7." + mac + "@example.com", ErrMalformed}, // a leading zero
		{"support+t0.a7." + mac + "@example.com", ErrMalformed},
		{"support+t123.a.@example.com", ErrMalformed},
		{"support+t-1.a7." + mac + "@example.com", ErrMalformed},
		{"support+t99999999999999999999.a7." + mac + "@example.com", ErrMalformed}, // over uint64
		{"support+t123.a7." + mac[:15] + "@example.com", ErrMalformed},
		{"support+t123.a7." + mac + "a@example.com", ErrMalformed},
		{"support+t123.a7." + mac[:15] + "1@example.com", ErrMalformed}, // not base32
		{"+t123.a7." + mac + "@example.com", ErrMalformed},
		{"support+t123.a7." + mac + "@", ErrMalformed},
		{strings.Repeat("s", 40) + "+t123.a7." + mac + "@example.com", ErrMalformed}, // local part over 64
	} {
		if _, err := s.Verify(tc.addr); !errors.Is(err, tc.want) {
			t.Errorf("Verify(%q) = %v, want %v", tc.addr, err, tc.want)
		}
	}
}

func TestIssueRefuses(t *testing.T) {
	s := testSigner(t, 1)
	for _, tc := range []struct {
		mailbox       string
		ticket, agent uint64
		want          string
	}{
		{"support@example.com", 0, 7, "needs a ticket and an agent"},
		{"support@example.com", 1, 0, "needs a ticket and an agent"},
		{"Support <support@example.com>", 1, 1, "not a bare address"},
		{"support", 1, 1, "not a bare address"},
		{"@example.com", 1, 1, "not a bare address"},
		{"a@b@example.com", 1, 1, "not a bare address"},
		{strings.Repeat("s", 30) + "@example.com", 1, 1, ""},
		{strings.Repeat("s", 30) + "@example.com", 1 << 60, 1 << 60, "more than 64"},
	} {
		addr, err := s.Issue(tc.mailbox, tc.ticket, tc.agent)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Issue(%q, %d, %d) = %v", tc.mailbox, tc.ticket, tc.agent, err)
		case tc.want == "":
			if local, _, _ := strings.Cut(addr, "@"); len(local) > MaxLocalPart {
				t.Errorf("Issue(%q) = %q: local part of %d octets", tc.mailbox, addr, len(local))
			}
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("Issue(%q, %d, %d) = %q, %v; want an error with %q", tc.mailbox, tc.ticket, tc.agent, addr, err, tc.want)
		}
	}
}

// TestKeyFile: LoadKey makes agent.key (32 bytes, 0600) and reads the same
// key back; ReadKey never makes one; an exposed key is refused as it is.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadKey(dir); err == nil || !strings.Contains(err.Error(), "is missing") || !strings.Contains(err.Error(), "restore") {
		t.Errorf("ReadKey of a directory without a key: %v", err)
	}
	path := filepath.Join(dir, "agent.key")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadKey made a key: %v", err)
	}
	s1, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != keySize {
		t.Fatalf("agent.key: %v, %v", fi, err)
	}
	addr := issue(t, s1, "support@example.com", 5, 6)
	for _, load := range []func(string) (*Signer, error){LoadKey, ReadKey} {
		s2, err := load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Verify(addr); err != nil {
			t.Errorf("the key read back does not verify: %v", err)
		}
	}
	before, _ := os.ReadFile(path)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	for _, load := range []func(string) (*Signer, error){LoadKey, ReadKey} {
		if _, err := load(dir); !errors.Is(err, ErrKeyExposed) || !strings.Contains(err.Error(), "remove it to make a new key") {
			t.Errorf("mode 0640: %v", err)
		}
	}
	after, _ := os.ReadFile(path)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 || string(after) != string(before) {
		t.Errorf("the exposed key file was changed")
	}
	short := t.TempDir()
	if err := os.WriteFile(filepath.Join(short, "agent.key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(short); err == nil || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("a 5-byte key: %v", err)
	}
	if _, err := NewSigner(make([]byte, 16)); err == nil {
		t.Error("NewSigner took a 16-byte key")
	}
}

// TestBackupHoldsTheKey: `ticketd backup` takes agent.key with the
// database, and a restore brings back a key that verifies the addresses
// already mailed.
func TestBackupHoldsTheKey(t *testing.T) {
	db := storetest.New(t, func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
	s, err := LoadKey(db.Dir())
	if err != nil {
		t.Fatal(err)
	}
	addr := issue(t, s, "support@example.com", 1, 2)
	archive := filepath.Join(t.TempDir(), "backup.tar")
	info, err := db.BackupArchive(archive, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(info.Keys, "agent.key") {
		t.Fatalf("backup keys %q, want agent.key", info.Keys)
	}
	restored := filepath.Join(t.TempDir(), "data")
	if _, err := store.Restore(archive, restored, false); err != nil {
		t.Fatal(err)
	}
	s2, err := ReadKey(restored)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Verify(addr); err != nil {
		t.Errorf("restored key: %v", err)
	}
}
