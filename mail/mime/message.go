package mime

import (
	"io"
	"ticketd/store"
	"time"
)

// Message is one parsed mail, reduced to what a ticket needs.
// Attachment contents are not held here; they went to a BlobSink while parsing.
type Message struct {
	MessageID  string        // without <>; "" when missing or empty
	InReplyTo  []string      // without <>
	References []string      // without <>
	Subject    string        // decoded (RFC 2047), unfolded
	From       store.Address // first address of From ("" Email when none could be read)
	Sender     store.Address // Sender header, if any
	ReplyTo    []store.Address
	To, Cc     []store.Address
	Date       time.Time // zero when missing or unparseable

	ContentLanguage string // Content-Language header value, as given
	Text            string // plain-text body: the text/plain alternative, or derived from HTML
	HTML            string // the text/html alternative as sent, if any
	TextFromHTML    bool   // Text was derived from HTML

	Attachments []Attachment
	// Dropped are the attachments ParseOptions.Attachments refused: not
	// stored, to be noted on the ticket.
	Dropped []Dropped `json:",omitempty"`

	// Loop-relevant headers (RFC 3834 and common practice), raw values; "" when absent.
	AutoSubmitted   string              // Auto-Submitted
	Precedence      string              // Precedence
	ListID          string              // List-Id
	ListUnsubscribe string              // List-Unsubscribe
	ReturnPath      string              // Return-Path, as given (may be "<>")
	ContentType     string              // top-level media type, lower case, e.g. "multipart/report"
	ReportType      string              // report-type parameter of a multipart/report
	XLoop           []string            // X-Loop values
	Headers         map[string][]string // every other header field the caller asked for in ParseOptions.KeepHeaders (canonical keys)

	Warnings []string // what could not be decoded but did not stop the parse (unknown charset, skipped part, truncated multipart)
}

// Attachment is one non-body part of a mail.
type Attachment struct {
	Filename    string // decoded (RFC 2047 / 2231); "" when the part has none
	ContentType string // media type, lower case, no parameters
	ContentID   string // without <>
	Inline      bool   // Content-Disposition inline (e.g. an image referenced by the HTML)
	Size        int64  // decoded size in bytes
	SHA256      string // hex digest of the decoded content; the key it was stored under
}

// BlobSink stores attachment contents while a mail is parsed.
// Put reads r to EOF and returns the hex SHA-256 of what it read and its length.
// When reading r fails, Put stores nothing and returns an error: that is how
// Parse aborts an attachment that passes a size limit or that the policy
// refuses at its end (an attached mail), after it was partly written.
type BlobSink interface {
	Put(r io.Reader) (sha256hex string, size int64, err error)
}

// ParseOptions tunes Parse.
type ParseOptions struct {
	MaxTextBytes int64    // cap on Text and HTML each (default 4 MiB); a longer body is also kept whole as an attachment "body.txt"/"body.html"
	KeepHeaders  []string // extra header fields to copy into Message.Headers
	// Attachments limits the attachments kept, by size and sniffed type;
	// nil: no limits. Refused ones are in Message.Dropped.
	Attachments *AttachmentPolicy
	// RedactText, when set, is applied to the decoded UTF-8 content of
	// every part stored as a blob whose sniffed type is text/* (plain,
	// csv, calendar, html...) before it reaches the BlobSink, and to the
	// whole copy of a long body ("body.txt"); such a part is then stored
	// as the UTF-8 text it returns. A part over 256 KiB is given to it in
	// pieces of at most 256 KiB, each ending at a line break, so that no
	// part is held whole; one with a longer line is dropped (see
	// redactReader). Message.Text, HTML and Subject are left to the caller.
	RedactText func(string) string

	nested int // how deep in attached mails this parse is
}

// ParseError is a mail that cannot become a ticket. It is quarantined with Reason.
type ParseError struct {
	Reason string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Err != nil {
		return "parse mail: " + e.Reason + ": " + e.Err.Error()
	}
	return "parse mail: " + e.Reason
}

func (e *ParseError) Unwrap() error { return e.Err }
