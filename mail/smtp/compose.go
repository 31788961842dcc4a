package smtp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"ticketd/mail/mime"
	"ticketd/store"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

// AutoReply is an automatic reply (RFC 3834) to compose.
type AutoReply struct {
	From, To   store.Address
	Subject    string
	MessageID  string // without <>
	InReplyTo  string // the Message-ID answered, without <>; "" when it had none
	References []string
	Date       time.Time
	Language   string // Content-Language
	Instance   string // value of LoopHeader
	Text, HTML string
}

// Compose renders r as a multipart/alternative mail (text and HTML, UTF-8,
// quoted-printable) marked as an automatic reply: Auto-Submitted:
// auto-replied (RFC 3834 §5), X-Auto-Response-Suppress: All (so Exchange
// sends no out-of-office back), and LoopHeader with the instance id. The MIME
// boundary derives from the Message-ID, so the same input gives the same bytes.
func Compose(r AutoReply) ([]byte, error) {
	var h gomail.Header
	h.SetDate(r.Date)
	h.SetAddressList("From", []*gomail.Address{{Name: r.From.Name, Address: r.From.Email}})
	h.SetAddressList("To", []*gomail.Address{{Name: r.To.Name, Address: r.To.Email}})
	h.SetSubject(r.Subject)
	h.SetMessageID(r.MessageID)
	if r.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{r.InReplyTo})
	}
	if len(r.References) > 0 {
		h.SetMsgIDList("References", r.References)
	}
	h.Set("Auto-Submitted", "auto-replied")
	h.Set("X-Auto-Response-Suppress", "All")
	h.Set(mime.LoopHeader, r.Instance)
	if r.Language != "" {
		h.Set("Content-Language", r.Language)
	}
	h.Set("MIME-Version", "1.0")
	sum := sha256.Sum256([]byte(r.MessageID))
	h.SetContentType("multipart/alternative", map[string]string{"boundary": "ticketd-" + hex.EncodeToString(sum[:12])})

	var buf bytes.Buffer
	mw, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	for _, part := range []struct{ media, body string }{{"text/plain", r.Text}, {"text/html", r.HTML}} {
		var ph message.Header
		ph.SetContentType(part.media, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := mw.CreatePart(ph)
		if err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if _, err := io.WriteString(w, crlf(part.body)); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return buf.Bytes(), nil
}

// crlf turns bare LF line ends into CRLF, as mail on the wire has them.
func crlf(s string) string {
	var b bytes.Buffer
	b.Grow(len(s) + len(s)/40)
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
