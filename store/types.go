package store

import "time"

// Channels a record can come in through.
const (
	ChannelEmail = "email" // fetched over IMAP from a configured mailbox
	ChannelFile  = "file"  // ticketd ingest: a file, stdin or an MTA pipe
)

// Ticket statuses.
const (
	StatusNew  = "new"  // no agent has answered yet
	StatusOpen = "open" // in progress
)

// Origin says where a record came from and when it was stored (GDPR logging).
type Origin struct {
	Channel     string    `json:"channel"`
	Mailbox     string    `json:"mailbox,omitempty"`
	MessageID   string    `json:"message_id,omitempty"`
	UID         uint32    `json:"uid,omitempty"`
	UIDValidity uint32    `json:"uid_validity,omitempty"`
	ReceivedAt  time.Time `json:"received_at"` // IMAP INTERNALDATE, or when a file was read
	StoredAt    time.Time `json:"stored_at"`
}

// Ticket is one customer request and its conversation.
type Ticket struct {
	Number       uint64    `json:"number"`
	Subject      string    `json:"subject"`
	Status       string    `json:"status"`
	Queue        string    `json:"queue"`
	RequesterID  uint64    `json:"requester_id"`
	Participants []uint64  `json:"participants"` // person ids that wrote to the ticket, requester first
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Origin       Origin    `json:"origin"`
	Messages     int       `json:"messages"` // count of messages
	Purpose      string    `json:"purpose"`  // the [[purpose]] its data is processed for
	Language     string    `json:"language"` // "de" | "en": the customer's language
	Ack          *Ack      `json:"acknowledgement,omitempty"`
}

// Ack is what happened to a ticket's acknowledgement.
type Ack struct {
	Status     string `json:"status"` // "queued" or "suppressed"
	Reason     string `json:"reason,omitempty"`
	OutboxID   uint64 `json:"outbox_id,omitempty"`
	MessageID  string `json:"message_id,omitempty"`
	NoticeHash string `json:"notice_hash,omitempty"` // SHA-256 of the notice text it carried: which notice the customer was shown
	Language   string `json:"language,omitempty"`
	ConsentID  string `json:"consent_token,omitempty"` // id of the consent link's token
}

// Address is a name and an email address as they appeared in a mail.
type Address struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Attachment is a stored part of a message; its content is the blob named SHA256.
type Attachment struct {
	Filename    string `json:"filename,omitempty"`
	ContentType string `json:"content_type"`
	ContentID   string `json:"content_id,omitempty"`
	Inline      bool   `json:"inline,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// Message is one mail of a ticket.
type Message struct {
	ID           uint64       `json:"id"`
	Ticket       uint64       `json:"ticket"`
	Direction    string       `json:"direction"` // "in"
	PersonID     uint64       `json:"person_id"`
	From         Address      `json:"from"`
	To           []Address    `json:"to,omitempty"`
	Cc           []Address    `json:"cc,omitempty"`
	Subject      string       `json:"subject"`
	MessageID    string       `json:"message_id,omitempty"`
	InReplyTo    []string     `json:"in_reply_to,omitempty"`
	References   []string     `json:"references,omitempty"`
	Date         time.Time    `json:"date,omitzero"`
	Language     string       `json:"language,omitempty"`
	Text         string       `json:"text"`
	HTML         string       `json:"html,omitempty"`
	TextFromHTML bool         `json:"text_from_html,omitempty"`
	Attachments  []Attachment `json:"attachments,omitempty"`
	Size         int64        `json:"size"`
	ContentHash  string       `json:"content_hash"` // SHA-256 of the raw mail
	Warnings     []string     `json:"warnings,omitempty"`
	ThreadedBy   string       `json:"threaded_by,omitempty"` // how it was matched to an existing ticket
	Origin       Origin       `json:"origin"`
}

// Person is a data subject: someone who wrote to support.
type Person struct {
	ID        uint64    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Quarantine is a mail that could not become a ticket, with the reason.
type Quarantine struct {
	ID          uint64    `json:"id"`
	Reason      string    `json:"reason"`
	Size        int64     `json:"size"`
	ContentHash string    `json:"content_hash,omitempty"` // "" when the mail was not read (over the size limit)
	Blob        string    `json:"blob,omitempty"`         // SHA-256 of the stored raw mail, when kept
	Folder      string    `json:"folder,omitempty"`       // IMAP folder the mail was moved to, when it was
	Origin      Origin    `json:"origin"`
	StoredAt    time.Time `json:"stored_at"`
}

// Checkpoint is how far a mailbox has been imported.
type Checkpoint struct {
	Mailbox     string `json:"mailbox"`
	UIDValidity uint32 `json:"uid_validity"`
	LastUID     uint32 `json:"last_uid"` // every UID <= LastUID is committed
	// FirstUIDNext is UIDNEXT when ticketd first selected the folder (under this
	// UIDVALIDITY): mail below it was there before ticketd and is imported silently.
	FirstUIDNext uint32 `json:"first_uid_next"`
	// Pending are committed UIDs whose after_import action (flag or move) is not
	// known to be done; they are applied again after a restart.
	Pending   []PendingAction `json:"pending,omitempty"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// PendingAction is an after_import step still to apply to one UID.
type PendingAction struct {
	UID    uint32 `json:"uid"`
	Action string `json:"action"` // "seen" | "move" | "quarantine"
}

// AuditEvent is one entry of the tamper-evident trail. It holds identifiers only.
type AuditEvent struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`  // "system", "admin", later "agent:<id>"
	Action     string    `json:"action"` // e.g. "ticket.created"
	Ticket     uint64    `json:"ticket,omitempty"`
	Message    uint64    `json:"message,omitempty"`
	Person     uint64    `json:"person,omitempty"`
	Quarantine uint64    `json:"quarantine,omitempty"`
	Mailbox    string    `json:"mailbox,omitempty"` // configured mailbox name, not an address
	Channel    string    `json:"channel,omitempty"`
	Detail     string    `json:"detail,omitempty"` // identifiers or fixed words only, e.g. "uid 42" or a threading rule
	Prev       string    `json:"prev"`             // hex SHA-256 of the previous event ("" for the first)
	Hash       string    `json:"hash"`             // hex SHA-256 over Prev and the event's other fields
}

// Outbox statuses.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// OutboxItem is one mail to send.
type OutboxItem struct {
	ID          uint64    `json:"id"`
	Ticket      uint64    `json:"ticket"`
	Kind        string    `json:"kind"` // "acknowledgement"
	MessageID   string    `json:"message_id"`
	From        string    `json:"from"` // envelope sender
	To          []string  `json:"to"`
	Raw         []byte    `json:"raw"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	CreatedAt   time.Time `json:"created_at"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	GiveUpAt    time.Time `json:"give_up_at"` // a temporary failure after this marks it failed
	LastError   string    `json:"last_error,omitempty"`
	DoneAt      time.Time `json:"done_at,omitzero"` // sent or failed
}

// ConsentToken records an issued consent link.
type ConsentToken struct {
	ID         string    `json:"id"`
	Ticket     uint64    `json:"ticket"`
	Person     uint64    `json:"person"`
	Purpose    string    `json:"purpose"`
	Expires    time.Time `json:"expires"`
	IssuedAt   time.Time `json:"issued_at"`
	NoticeHash string    `json:"notice_hash"`
}
