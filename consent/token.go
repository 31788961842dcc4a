package consent

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"ticketd/config"
	"ticketd/store"
)

// Errors of Verify.
var (
	ErrMalformed = errors.New("consent: malformed token")
	ErrSignature = errors.New("consent: token signature does not match")
	ErrExpired   = errors.New("consent: token expired")
)

const (
	keyFile = config.ConsentKeyFile
	keySize = config.ConsentKeySize
	// version1 tokens (before the address binding) are still verified, so
	// that links already mailed keep working where it is provable whom
	// they were mailed to (see Handler); version2 tokens carry addrTag.
	version1   = 1
	version2   = 2
	domain     = "ticketd-consent-1"
	addrDomain = "ticketd-consent-address-1"
	fixedSize1 = 1 + 16 + 8 + 8 + 8
	addrTagLen = 16
	fixedSize2 = fixedSize1 + addrTagLen
	maxPurpose = 64
	// MaxTokenLen bounds what Verify reads; longer input is malformed at once.
	MaxTokenLen = 256
)

// Claims are what a token says.
type Claims struct {
	ID      string // hex token id, unique per token
	Ticket  uint64
	Person  uint64
	Purpose string
	Expires time.Time
	// Version is the token format: 2 binds the address the link was mailed
	// to (see MailedTo); 1 was issued before that and binds none.
	Version int

	addr [addrTagLen]byte // version 2: addrTag of the recipient
}

// Signer issues and verifies tokens with one key.
type Signer struct{ key []byte }

// ErrKeyExposed is returned by LoadKey for a key file that others could
// read or change.
var ErrKeyExposed = errors.New("consent: key file open to others")

// LoadKey reads the key from dir, creating it (32 random bytes, mode 0600) on
// first start. A key file that is not a regular file of ticketd's user (or
// root) with no access for group or others is refused, not tightened: anyone
// who read it can forge consent links and decisions, so the admin must decide
// whether to make a new key (remove the file; links already sent stop
// working) or keep it (chmod 600) because no one else could have read it.
func LoadKey(dir string) (*Signer, error) { return loadKey(dir, true) }

func loadKey(dir string, create bool) (*Signer, error) {
	path := filepath.Join(dir, keyFile)
	key, err := config.LoadKey(path, keySize, create)
	if errors.Is(err, config.ErrFileMode) || errors.Is(err, config.ErrFileOwner) {
		return nil, fmt.Errorf("%w: %w; whoever could read it can forge consent links: "+
			"remove it to make a new key (links already sent stop working), or chmod 600 it if no one else can have read it",
			ErrKeyExposed, err)
	}
	if err != nil {
		return nil, fmt.Errorf("consent key: %w", err)
	}
	return &Signer{key: key}, nil
}

// ReadKey reads the key from dir and never creates one: for a store that
// existed before, a new key would silently break every consent link mailed so
// far, so a missing key is an error that says so.
func ReadKey(dir string) (*Signer, error) {
	s, err := loadKey(dir, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("consent key %s is missing: the consent links already mailed need it; "+
			"restore it from the backup it was saved with (see ticketd restore)", filepath.Join(dir, keyFile))
	}
	return s, err
}

// NewSigner uses key (at least 32 bytes); for tests.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < keySize {
		return nil, fmt.Errorf("consent key: %d bytes, want %d", len(key), keySize)
	}
	return &Signer{key: key}, nil
}

// Issue returns a new token for the claims (its ID is filled in) and the
// claims. recipient is the address the link is mailed to: the token is bound
// to it (MailedTo), so that it can act only for the person with that address.
func (s *Signer) Issue(ticket, person uint64, recipient, purpose string, expires time.Time) (string, Claims, error) {
	if purpose == "" || len(purpose) > maxPurpose {
		return "", Claims{}, fmt.Errorf("consent: purpose name must be 1 to %d bytes", maxPurpose)
	}
	if store.NormalizeEmail(recipient) == "" {
		return "", Claims{}, errors.New("consent: a token needs the address it is mailed to")
	}
	p := make([]byte, fixedSize2, fixedSize2+len(purpose))
	p[0] = version2
	if _, err := rand.Read(p[1:17]); err != nil {
		return "", Claims{}, err
	}
	binary.BigEndian.PutUint64(p[17:], ticket)
	binary.BigEndian.PutUint64(p[25:], person)
	binary.BigEndian.PutUint64(p[33:], uint64(expires.Unix()))
	tag := s.addrTag(recipient)
	copy(p[fixedSize1:], tag[:])
	p = append(p, purpose...)
	c := Claims{ID: hex.EncodeToString(p[1:17]), Ticket: ticket, Person: person, Purpose: purpose,
		Expires: time.Unix(expires.Unix(), 0).UTC(), Version: version2, addr: tag}
	return b64.EncodeToString(p) + "." + b64.EncodeToString(s.mac(p)), c, nil
}

// addrTag is the keyed digest of an address that a token carries: it names
// the address without revealing it (an unkeyed hash of an address can be
// found by trying addresses).
func (s *Signer) addrTag(email string) [addrTagLen]byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(addrDomain))
	m.Write([]byte(store.NormalizeEmail(email)))
	var tag [addrTagLen]byte
	copy(tag[:], m.Sum(nil))
	return tag
}

// MailedTo reports whether c, verified by s, was issued for the address
// email (compared as the store compares addresses). It is false for a
// version 1 token, which names no address.
func (s *Signer) MailedTo(c Claims, email string) bool {
	if c.Version != version2 || store.NormalizeEmail(email) == "" {
		return false
	}
	tag := s.addrTag(email)
	return hmac.Equal(tag[:], c.addr[:])
}

var b64 = base64.RawURLEncoding.Strict()

func (s *Signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(domain))
	m.Write(payload)
	return m.Sum(nil)
}

// Verify checks token at time now and returns its claims. The error is
// ErrMalformed, ErrSignature or ErrExpired.
func (s *Signer) Verify(token string, now time.Time) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, ErrMalformed
	}
	enc, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrMalformed
	}
	p, err1 := b64.DecodeString(enc)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil || len(p) < fixedSize1+1 || len(mac) != sha256.Size {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(mac, s.mac(p)) {
		return Claims{}, ErrSignature
	}
	fixed := fixedSize1
	switch p[0] {
	case version1:
	case version2:
		fixed = fixedSize2
	default:
		return Claims{}, ErrMalformed
	}
	if len(p) < fixed+1 || len(p) > fixed+maxPurpose {
		return Claims{}, ErrMalformed
	}
	c := Claims{
		ID:      hex.EncodeToString(p[1:17]),
		Ticket:  binary.BigEndian.Uint64(p[17:]),
		Person:  binary.BigEndian.Uint64(p[25:]),
		Expires: time.Unix(int64(binary.BigEndian.Uint64(p[33:])), 0).UTC(),
		Purpose: string(p[fixed:]),
		Version: int(p[0]),
	}
	if c.Version == version2 {
		copy(c.addr[:], p[fixedSize1:fixedSize2])
	}
	if !now.Before(c.Expires) {
		return Claims{}, ErrExpired
	}
	return c, nil
}
