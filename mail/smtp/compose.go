package smtp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
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
		if err := writePart(mw, ph, strings.NewReader(crlf(part.body))); err != nil {
			return nil, err
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

// Mail is a mail ticketd writes for a person rather than as an automatic
// reply: an agent's answer relayed to the customer, or a mail to an agent.
type Mail struct {
	From, To   store.Address
	ReplyTo    string // "" for none
	Subject    string
	MessageID  string // without <>
	InReplyTo  string // without <>; "" for none
	References []string
	Date       time.Time
	Language   string // Content-Language; "" for none
	Instance   string // value of LoopHeader
	// AutoSubmitted is the Auto-Submitted keyword (RFC 3834 §5):
	// "auto-generated" for ticketd's own mail to agents, "" for an
	// agent's answer, which a person wrote.
	AutoSubmitted string
	Text          string
	Attachments   []Attachment
}

// Attachment is a file a Mail carries.
type Attachment struct {
	Filename    string
	ContentType string
	Inline      bool
	ContentID   string // without <>
	Open        func() (io.ReadCloser, error)
}

// ComposeMail renders m: a text/plain part (UTF-8, quoted-printable), in a
// multipart/mixed with the attachments (base64) when there are any. The
// boundary derives from the Message-ID, so the same input gives the same
// bytes.
func ComposeMail(m Mail) ([]byte, error) {
	var h gomail.Header
	h.SetDate(m.Date)
	h.SetAddressList("From", []*gomail.Address{{Name: m.From.Name, Address: m.From.Email}})
	h.SetAddressList("To", []*gomail.Address{{Name: m.To.Name, Address: m.To.Email}})
	if m.ReplyTo != "" {
		h.SetAddressList("Reply-To", []*gomail.Address{{Address: m.ReplyTo}})
	}
	h.SetSubject(m.Subject)
	h.SetMessageID(m.MessageID)
	if m.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{m.InReplyTo})
	}
	if len(m.References) > 0 {
		h.SetMsgIDList("References", m.References)
	}
	if m.AutoSubmitted != "" {
		h.Set("Auto-Submitted", m.AutoSubmitted)
		h.Set("X-Auto-Response-Suppress", "All")
	}
	h.Set(mime.LoopHeader, m.Instance)
	if m.Language != "" {
		h.Set("Content-Language", m.Language)
	}
	h.Set("MIME-Version", "1.0")
	var buf bytes.Buffer
	if len(m.Attachments) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := message.CreateWriter(&buf, h.Header)
		if err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if _, err := io.WriteString(w, crlf(m.Text)); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		return buf.Bytes(), nil
	}
	sum := sha256.Sum256([]byte(m.MessageID))
	h.SetContentType("multipart/mixed", map[string]string{"boundary": "ticketd-" + hex.EncodeToString(sum[:12])})
	mw, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	var th message.Header
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	if err := writePart(mw, th, strings.NewReader(crlf(m.Text))); err != nil {
		return nil, err
	}
	for _, a := range m.Attachments {
		var ah message.Header
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		ah.SetContentType(ct, nil)
		disp := "attachment"
		if a.Inline {
			disp = "inline"
		}
		params := map[string]string{}
		if a.Filename != "" {
			params["filename"] = a.Filename
		}
		ah.SetContentDisposition(disp, params)
		if a.ContentID != "" {
			ah.Set("Content-Id", "<"+a.ContentID+">")
		}
		ah.Set("Content-Transfer-Encoding", "base64")
		r, err := a.Open()
		if err != nil {
			return nil, fmt.Errorf("compose: attachment %q: %w", a.Filename, err)
		}
		err = writePart(mw, ah, r)
		r.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return buf.Bytes(), nil
}

func writePart(mw *message.Writer, h message.Header, r io.Reader) error {
	w, err := mw.CreatePart(h)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return nil
}
