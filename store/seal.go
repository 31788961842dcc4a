package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// A sealed value is
//
//	0x01 ‖ len(key id) ‖ key id ‖ nonce (12) ‖ AES-256-GCM(JSON)
//
// with bucket name ‖ 0 ‖ record key as additional data, so that a value
// moved to another record or bucket does not open.
const sealVersion = 0x01

// Key ids of the key file.
const (
	keySystem = "s.system" // records with no personal data left (anonymised tickets)
	keyLookup = "s.lookup" // HMAC key of the lookup indexes
	keyBlob   = "s.blob"   // the secret blob names and blob keys are derived from
)

func personKeyID(id uint64) string { return "p" + string(be64(id)) }

// validKeyID reports whether kid is a key id a record may be sealed under:
// a record naming another one was tampered with, it is not erased.
func validKeyID(kid string) bool {
	return len(kid) == 9 && (kid[0] == 'p' || kid[0] == 'q') || kid == keySystem
}
func quarantineKeyID(id uint64) string { return "q" + string(be64(id)) }

// sealedBuckets hold sealed values when the store is encrypted.
var sealedBuckets = [][]byte{bPeople, bTickets, bMessages, bQuarantine, bOutbox, bConsentTok, bConsents}

// lookupBuckets are keyed by HMAC-SHA256 under s.lookup when the store is encrypted.
var lookupBuckets = [][]byte{bIdxEmail, bAckRate, bIdxMsgID, bIdxDedup, bIdxQDedup}

// errCorrupt marks a sealed value that does not open with a key that is present.
var errCorrupt = errors.New("store: a sealed record fails authentication: the file is damaged or was tampered with")

func newGCM(key []byte) (cipher.AEAD, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(c)
}

func sealAD(bucket, key []byte) []byte {
	ad := make([]byte, 0, len(bucket)+1+len(key))
	ad = append(append(append(ad, bucket...), 0), key...)
	return ad
}

// sealValue seals plain under key (id kid) for bucket and record key.
func sealValue(kid string, key, bucket, rkey, plain []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return sealWith(g, kid, bucket, rkey, plain)
}

// sealWith seals plain with g, the cipher of key kid.
func sealWith(g cipher.AEAD, kid string, bucket, rkey, plain []byte) ([]byte, error) {
	if len(kid) == 0 || len(kid) > 255 {
		return nil, fmt.Errorf("store: bad key id")
	}
	out := make([]byte, 0, 2+len(kid)+12+len(plain)+16)
	out = append(out, sealVersion, byte(len(kid)))
	out = append(out, kid...)
	out = out[:len(out)+12]
	nonce := out[len(out)-12:]
	rand.Read(nonce)
	return g.Seal(out, nonce, plain, sealAD(bucket, rkey)), nil
}

// envelope splits a sealed value into its key id and the rest (nonce and
// ciphertext); ok is false when v is not a well-formed sealed value.
func envelope(v []byte) (kid string, body []byte, ok bool) {
	if len(v) < 2 || v[0] != sealVersion {
		return "", nil, false
	}
	n := int(v[1])
	if n == 0 || len(v) < 2+n+12+16 {
		return "", nil, false
	}
	return string(v[2 : 2+n]), v[2+n:], true
}

// openValue opens the body of a sealed value with key.
func openValue(key, bucket, rkey, body []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return openWith(g, bucket, rkey, body)
}

// openWith opens the body of a sealed value with g, the cipher of its key.
func openWith(g cipher.AEAD, bucket, rkey, body []byte) ([]byte, error) {
	if len(body) < 12+16 {
		return nil, errCorrupt
	}
	plain, err := g.Open(nil, body[:12], body[12:], sealAD(bucket, rkey))
	if err != nil {
		return nil, errCorrupt
	}
	return plain, nil
}

// shreddedError is the error of a record whose key is gone.
type shreddedError struct{ what string }

func (e *shreddedError) Error() string {
	return e.what + ": erased (its key is no longer in the key file)"
}
func (e *shreddedError) Is(target error) bool { return target == ErrNotFound || target == ErrShredded }

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decode reads the stored value v of bucket name, key k into rec: sealed or
// plain as the store is. A value whose key is gone is a shreddedError.
func (t *Tx) decode(name, k, v []byte, rec any) error {
	if t.db != nil {
		if c := t.db.decoded[string(name)]; c != nil {
			c.Add(1)
		}
	}
	if t.db == nil || t.db.keys == nil {
		if len(v) > 0 && v[0] == sealVersion {
			return fmt.Errorf("store: record %s/%x is sealed, and the store was opened without its master key", name, k)
		}
		return json.Unmarshal(v, rec)
	}
	kid, body, ok := envelope(v)
	if !ok || !validKeyID(kid) {
		return fmt.Errorf("record %s/%x: %w", name, k, errCorrupt)
	}
	g, present, err := t.aead(kid)
	if err != nil {
		return err
	}
	if !present {
		return &shreddedError{fmt.Sprintf("record %s/%x", name, k)}
	}
	plain, err := openWith(g, name, k, body)
	if err != nil {
		return fmt.Errorf("record %s/%x: %w", name, k, err)
	}
	return json.Unmarshal(plain, rec)
}

// getRec reads record k of bucket name into rec.
func (t *Tx) getRec(name, k []byte, rec any) error {
	v := t.b(name).Get(k)
	if v == nil {
		return ErrNotFound
	}
	return t.decode(name, k, v, rec)
}

// putRec stores rec as record k of bucket name, sealed under the key kid
// when the store is encrypted.
func (t *Tx) putRec(name, k []byte, rec any, kid string) error {
	if bytes.Equal(name, bPeople) {
		t.forgetPerson(k)
	}
	if t.db != nil {
		if c := t.db.encoded[string(name)]; c != nil {
			c.Add(1)
		}
	}
	if t.db == nil || t.db.keys == nil {
		data, err := marshalJSON(rec)
		if err != nil {
			return err
		}
		return t.b(name).Put(k, data)
	}
	g, present, err := t.aead(kid)
	if err != nil {
		return err
	}
	if !present {
		return fmt.Errorf("store: record %s/%x: its key is gone (erased)", name, k)
	}
	// The JSON is only read by the seal, which writes a value of its own:
	// its buffer serves every record of the transaction.
	t.jsonBuf.Reset()
	enc := json.NewEncoder(&t.jsonBuf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return err
	}
	data, err := sealWith(g, kid, name, k, bytes.TrimSuffix(t.jsonBuf.Bytes(), []byte("\n")))
	if err != nil {
		return err
	}
	return t.b(name).Put(k, data)
}

// forgetPerson drops person k (a record key) from the records this
// transaction has read, before it is written or deleted.
func (t *Tx) forgetPerson(k []byte) {
	if len(k) == 8 {
		delete(t.people, binary.BigEndian.Uint64(k))
	}
}

// forEachRec decodes each record of bucket name into a new T and calls fn
// until it returns false; records whose key is gone are skipped.
func forEachRec[T any](t *Tx, name []byte, fn func(*T) bool) error {
	c := t.b(name).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rec := new(T)
		if err := t.decode(name, k, v, rec); err != nil {
			if errors.Is(err, ErrShredded) {
				continue
			}
			return fmt.Errorf("decode record %x: %w", k, err)
		}
		if !fn(rec) {
			return nil
		}
	}
	return nil
}

// lk is the key a lookup index of bucket name holds for k: k itself in a
// plaintext store, HMAC-SHA256 under s.lookup (16 bytes) in an encrypted one.
func (t *Tx) lk(name, k []byte) []byte {
	if t.db == nil || t.db.keys == nil {
		return k
	}
	return t.db.keys.lookup(name, k)
}

// key returns the key kid: made in this transaction, or from the key file.
func (t *Tx) key(kid string) ([]byte, bool, error) {
	if k, ok := t.newKeys[kid]; ok {
		return k, true, nil
	}
	return t.db.keys.get(kid)
}

// aead returns the cipher of key kid: one per key, made in this
// transaction for a key made in it, else kept by the key store.
func (t *Tx) aead(kid string) (cipher.AEAD, bool, error) {
	if k, ok := t.newKeys[kid]; ok {
		if g, ok := t.newAEADs[kid]; ok {
			return g, true, nil
		}
		g, err := newGCM(k)
		if err != nil {
			return nil, false, err
		}
		if t.newAEADs == nil {
			t.newAEADs = map[string]cipher.AEAD{}
		}
		t.newAEADs[kid] = g
		return g, true, nil
	}
	key, present, err := t.db.keys.get(kid)
	if err != nil || !present {
		return nil, present, err
	}
	g, err := t.db.keys.aead(kid, key)
	return g, err == nil, err
}

// ensureKey makes the key kid when the key file does not hold it yet; it
// is written to the key file before the transaction commits.
func (t *Tx) ensureKey(kid string) error {
	if t.db == nil || t.db.keys == nil {
		return nil
	}
	if _, ok, err := t.key(kid); err != nil || ok {
		return err
	}
	k := make([]byte, 32)
	rand.Read(k)
	if t.newKeys == nil {
		t.newKeys = map[string][]byte{}
	}
	t.newKeys[kid] = k
	return nil
}

// shred records that the key kid goes once the transaction has committed.
func (t *Tx) shred(kid string) error {
	if t.db == nil || t.db.keys == nil {
		return nil
	}
	delete(t.newKeys, kid)
	delete(t.newAEADs, kid)
	t.shreds = append(t.shreds, kid)
	return t.b(bShred).Put([]byte(kid), nil)
}

// ticketKeyID is the key a ticket is sealed under.
func ticketKeyID(tk *Ticket) string {
	if !tk.AnonymizedAt.IsZero() || tk.RequesterID == 0 {
		return keySystem
	}
	return personKeyID(tk.RequesterID)
}

// ticketKeyOf is the key id ticket n is stored under (s.system when it is not stored).
func (t *Tx) ticketKeyOf(n uint64) string {
	if n == 0 {
		return keySystem
	}
	if d, ok := t.deferred[n]; ok {
		return ticketKeyID(d.tk)
	}
	if kid, _, ok := envelope(t.b(bTickets).Get(be64(n))); ok {
		return kid
	}
	var tk Ticket
	if err := t.getRec(bTickets, be64(n), &tk); err == nil {
		return ticketKeyID(&tk)
	}
	return keySystem
}

// messageKeyID is the key a message is sealed under: its sender's, or the
// ticket requester's for an agent's message (which names no person).
func (t *Tx) messageKeyID(m *Message) string {
	if m.Direction == DirectionIn && m.PersonID != 0 {
		return personKeyID(m.PersonID)
	}
	return t.ticketKeyOf(m.Ticket)
}

// hmacSum is HMAC-SHA256(key, parts joined by 0).
func hmacSum(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write(p)
	}
	return h.Sum(nil)
}
