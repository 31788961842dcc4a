package consent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// The anti-forgery value of a form on the consent page is stateless: no
// cookie, no server-side session. It is
//
//	base64url(render time, Unix seconds (8) ‖ HMAC-SHA256(form key, fields))
//
// over the token id, the purpose, the decision the button records, the
// page's language, the hash of the notice the page showed, the person's
// consent version for the purpose when the page was rendered, and the
// render time. The form key is derived from the consent key. A form is
// accepted for FormValidity after rendering, and only while the version is
// unchanged: once a decision about the purpose has been recorded, every form
// rendered before it (the same form submitted again, a second tab) is stale.
// A changed notice (the configuration was edited) makes it stale too, so a
// recorded notice hash is always the one the customer saw.

// FormValidity is how long a rendered form can be submitted.
const FormValidity = time.Hour

// formSkew is how far in the future a render time may lie (clock steps).
const formSkew = time.Minute

const formDomain = "ticketd-consent-form-1"

// Errors of checkForm.
var (
	errFormMissing = errors.New("consent: no anti-forgery value")
	errFormInvalid = errors.New("consent: anti-forgery value does not match")
	errFormExpired = errors.New("consent: form expired")
)

// formFields are what an anti-forgery value is bound to.
type formFields struct {
	TokenID    string
	Purpose    string
	Decision   string
	Lang       string
	NoticeHash string
	Version    uint64
}

// formKey derives the key of anti-forgery values from the consent key.
func (s *Signer) formKey() []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("ticketd-consent-form-key"))
	return m.Sum(nil)
}

func formMAC(key []byte, f formFields, rendered int64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(formDomain))
	for _, s := range []string{f.TokenID, f.Purpose, f.Decision, f.Lang, f.NoticeHash} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], f.Version)
	binary.BigEndian.PutUint64(n[8:], uint64(rendered))
	m.Write(n[:])
	return m.Sum(nil)
}

// issueForm returns the anti-forgery value of a form rendered at now.
func issueForm(key []byte, f formFields, now time.Time) string {
	b := make([]byte, 8, 8+sha256.Size)
	binary.BigEndian.PutUint64(b, uint64(now.Unix()))
	return b64.EncodeToString(append(b, formMAC(key, f, now.Unix())...))
}

// checkForm checks an anti-forgery value against the fields as they are now.
func checkForm(key []byte, value string, f formFields, now time.Time) error {
	if value == "" {
		return errFormMissing
	}
	b, err := b64.DecodeString(value)
	if err != nil || len(b) != 8+sha256.Size {
		return errFormInvalid
	}
	rendered := int64(binary.BigEndian.Uint64(b))
	if !hmac.Equal(b[8:], formMAC(key, f, rendered)) {
		return errFormInvalid
	}
	at := time.Unix(rendered, 0)
	if now.Sub(at) > FormValidity || at.Sub(now) > formSkew {
		return errFormExpired
	}
	return nil
}
