package agent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"ticketd/config"
	"ticketd/store"
)

// Errors of Verify, from the least to the most suspicious.
var (
	// ErrNotToken: the address carries no reply token (an ordinary
	// address, or a subaddress of another kind).
	ErrNotToken = errors.New("agent: not a reply address")
	// ErrMalformed: the address has the shape of a reply address, but a
	// part is not as Issue writes it (a number with a leading zero, a
	// signature of the wrong length or alphabet).
	ErrMalformed = errors.New("agent: malformed reply address")
	// ErrSignature: well formed, but the signature does not match: not
	// issued by this key for this mailbox, ticket and agent.
	ErrSignature = errors.New("agent: reply address signature does not match")
	// ErrKeyExposed: LoadKey found a key file others could read or change.
	ErrKeyExposed = errors.New("agent: key file open to others")
)

const (
	keyFile = config.AgentKeyFile
	keySize = config.KeySize
	// macDomain separates these signatures from any other use of the key.
	macDomain = "ticketd-agent-reply-1"
	// macLen bytes of HMAC-SHA256 are kept: 80 bits, written as 16
	// base32 letters. A forger must get a mail past the check once per
	// guess, so 2^80 guesses are out of reach.
	macLen  = 10
	macText = 16
	// MaxLocalPart is the limit of RFC 5321 §4.5.3.1.1.
	MaxLocalPart = 64
	// maxAddress bounds what Verify reads: RFC 5321's path limit.
	maxAddress = 256
)

// mac32 is the lower-case base32 alphabet without padding, so that an MTA
// that lower-cases local parts leaves the signature intact; Verify reads
// it case-insensitively.
var mac32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Token is what a verified reply address says.
type Token struct {
	// Mailbox is the support address the reply address was made from, as
	// Verify read it (lower case): the address without the "+t…" tag.
	Mailbox string
	Ticket  uint64
	Agent   uint64
}

// Signer issues and verifies reply addresses with one key.
type Signer struct{ key []byte }

// LoadKey reads the key from dir, creating it (32 random bytes, mode 0600)
// when there is none: for a new store only (see ReadKey). A key file that
// is not a regular file of ticketd's user (or root) with no access for
// group or others is refused, not tightened: whoever read it can make reply
// addresses that pass for any agent's.
func LoadKey(dir string) (*Signer, error) { return loadKey(dir, true) }

// ReadKey reads the key from dir and never creates one: for a store that
// existed before, a new key would make every reply address mailed so far
// fail, so a missing key is an error that says so.
func ReadKey(dir string) (*Signer, error) {
	s, err := loadKey(dir, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("agent key %s is missing: the reply addresses already mailed to agents need it; "+
			"restore it from the backup it was saved with (see ticketd restore)", filepath.Join(dir, keyFile))
	}
	return s, err
}

func loadKey(dir string, create bool) (*Signer, error) {
	path := filepath.Join(dir, keyFile)
	key, err := config.LoadKey(path, keySize, create)
	if errors.Is(err, config.ErrFileMode) || errors.Is(err, config.ErrFileOwner) {
		return nil, fmt.Errorf("%w: %w; whoever could read it can forge agent replies: "+
			"remove it to make a new key (reply addresses already mailed stop working), or chmod 600 it if no one else can have read it",
			ErrKeyExposed, err)
	}
	if err != nil {
		return nil, fmt.Errorf("agent key: %w", err)
	}
	return &Signer{key: key}, nil
}

// NewSigner uses key (at least 32 bytes); for tests.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < keySize {
		return nil, fmt.Errorf("agent key: %d bytes, want %d", len(key), keySize)
	}
	return &Signer{key: key}, nil
}

// Issue returns the reply address for agent on ticket, made from the
// mailbox's address: local+t<ticket>.a<agent>.<mac>@domain, with the local
// part and domain of mailbox kept (lower-cased). The mac binds the mailbox
// address, the ticket and the agent. A ticket or agent of 0, a mailbox that
// is not a bare address, or a result whose local part would exceed
// MaxLocalPart is an error.
func (s *Signer) Issue(mailbox string, ticket, agentID uint64) (string, error) {
	local, domain, err := splitMailbox(mailbox)
	if err != nil {
		return "", err
	}
	if ticket == 0 || agentID == 0 {
		return "", errors.New("agent: a reply address needs a ticket and an agent")
	}
	tag := "t" + strconv.FormatUint(ticket, 10) + ".a" + strconv.FormatUint(agentID, 10) + "."
	full := local + "+" + tag + mac32.EncodeToString(s.mac(local+"@"+domain, ticket, agentID))
	if len(full) > MaxLocalPart {
		return "", fmt.Errorf("agent: reply address local part of %d octets, more than %d (RFC 5321 §4.5.3.1.1); use a shorter mailbox address", len(full), MaxLocalPart)
	}
	return full + "@" + domain, nil
}

// Verify reads a recipient address (a bare addr-spec, any case) and
// returns what its reply token says, or ErrNotToken, ErrMalformed or
// ErrSignature. The signature is compared in constant time.
func (s *Signer) Verify(addr string) (Token, error) {
	if len(addr) > maxAddress {
		return Token{}, ErrNotToken
	}
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return Token{}, ErrNotToken
	}
	local, domain := addr[:at], addr[at+1:]
	plus := strings.LastIndexByte(local, '+')
	if plus < 0 {
		return Token{}, ErrNotToken
	}
	base, tag := local[:plus], local[plus+1:]
	parts := strings.Split(tag, ".")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "t") || !strings.HasPrefix(parts[1], "a") {
		return Token{}, ErrNotToken
	}
	ticket, ok1 := number(parts[0][1:])
	agentID, ok2 := number(parts[1][1:])
	mac, err := mac32.DecodeString(parts[2])
	if !ok1 || !ok2 || err != nil || len(parts[2]) != macText || len(mac) != macLen {
		return Token{}, ErrMalformed
	}
	if base == "" || domain == "" || len(local) > MaxLocalPart {
		return Token{}, ErrMalformed
	}
	mailbox := base + "@" + domain
	if !hmac.Equal(mac, s.mac(mailbox, ticket, agentID)) {
		return Token{}, ErrSignature
	}
	return Token{Mailbox: mailbox, Ticket: ticket, Agent: agentID}, nil
}

// mac is the truncated HMAC-SHA256 over the domain string, the mailbox
// address (length-prefixed), the ticket and the agent.
func (s *Signer) mac(mailbox string, ticket, agentID uint64) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(macDomain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(mailbox)))
	h.Write(n[:])
	h.Write([]byte(mailbox))
	binary.BigEndian.PutUint64(n[:], ticket)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], agentID)
	h.Write(n[:])
	return h.Sum(nil)[:macLen]
}

// number reads a decimal written as Issue writes it: digits only, no
// leading zero, not 0, within uint64.
func number(s string) (uint64, bool) {
	if s == "" || s[0] == '0' || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// splitMailbox checks that mailbox is a bare address and returns its local
// part and domain, lower-cased.
func splitMailbox(mailbox string) (local, domain string, err error) {
	m := store.NormalizeEmail(mailbox)
	at := strings.LastIndexByte(m, '@')
	if at <= 0 || at == len(m)-1 || strings.ContainsAny(m, " \t\r\n<>\"(),;:\\[]") || strings.Count(m, "@") != 1 {
		return "", "", fmt.Errorf("agent: mailbox address %q is not a bare address", mailbox)
	}
	return m[:at], m[at+1:], nil
}
