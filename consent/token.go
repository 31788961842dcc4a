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
)

// Errors of Verify.
var (
	ErrMalformed = errors.New("consent: malformed token")
	ErrSignature = errors.New("consent: token signature does not match")
	ErrExpired   = errors.New("consent: token expired")
)

const (
	keyFile    = config.ConsentKeyFile
	keySize    = config.ConsentKeySize
	version    = 1
	domain     = "ticketd-consent-1"
	fixedSize  = 1 + 16 + 8 + 8 + 8
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
func LoadKey(dir string) (*Signer, error) {
	path := filepath.Join(dir, keyFile)
	key, err := config.ReadFile(path, config.Secret, keySize)
	if errors.Is(err, config.ErrFileMode) || errors.Is(err, config.ErrFileOwner) {
		return nil, fmt.Errorf("%w: %w; whoever could read it can forge consent links: "+
			"remove it to make a new key (links already sent stop working), or chmod 600 it if no one else can have read it",
			ErrKeyExposed, err)
	}
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, keySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadKey(dir) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("create consent key: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("write consent key: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("write consent key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("write consent key: %w", err)
		}
		return &Signer{key: key}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read consent key: %w", err)
	}
	if len(key) != keySize { // shorter; a longer one is refused by ReadFile
		return nil, fmt.Errorf("consent key %s: %d bytes, want %d", path, len(key), keySize)
	}
	return &Signer{key: key}, nil
}

// ReadKey reads the key from dir and never creates one: for a store that
// existed before, a new key would silently break every consent link mailed so
// far, so a missing key is an error that says so.
func ReadKey(dir string) (*Signer, error) {
	path := filepath.Join(dir, keyFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("consent key %s is missing: the consent links already mailed need it; "+
			"restore it from the backup it was saved with (see ticketd restore)", path)
	}
	return LoadKey(dir)
}

// NewSigner uses key (at least 32 bytes); for tests.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < keySize {
		return nil, fmt.Errorf("consent key: %d bytes, want %d", len(key), keySize)
	}
	return &Signer{key: key}, nil
}

// Issue returns a new token for the claims (its ID is filled in) and the claims.
func (s *Signer) Issue(ticket, person uint64, purpose string, expires time.Time) (string, Claims, error) {
	if purpose == "" || len(purpose) > maxPurpose {
		return "", Claims{}, fmt.Errorf("consent: purpose name must be 1 to %d bytes", maxPurpose)
	}
	p := make([]byte, fixedSize, fixedSize+len(purpose))
	p[0] = version
	if _, err := rand.Read(p[1:17]); err != nil {
		return "", Claims{}, err
	}
	binary.BigEndian.PutUint64(p[17:], ticket)
	binary.BigEndian.PutUint64(p[25:], person)
	binary.BigEndian.PutUint64(p[33:], uint64(expires.Unix()))
	p = append(p, purpose...)
	c := Claims{ID: hex.EncodeToString(p[1:17]), Ticket: ticket, Person: person, Purpose: purpose, Expires: time.Unix(expires.Unix(), 0).UTC()}
	return b64.EncodeToString(p) + "." + b64.EncodeToString(s.mac(p)), c, nil
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
	if err1 != nil || err2 != nil || len(p) < fixedSize+1 || len(mac) != sha256.Size {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(mac, s.mac(p)) {
		return Claims{}, ErrSignature
	}
	if p[0] != version || len(p) > fixedSize+maxPurpose {
		return Claims{}, ErrMalformed
	}
	c := Claims{
		ID:      hex.EncodeToString(p[1:17]),
		Ticket:  binary.BigEndian.Uint64(p[17:]),
		Person:  binary.BigEndian.Uint64(p[25:]),
		Expires: time.Unix(int64(binary.BigEndian.Uint64(p[33:])), 0).UTC(),
		Purpose: string(p[fixedSize:]),
	}
	if !now.Before(c.Expires) {
		return Claims{}, ErrExpired
	}
	return c, nil
}
