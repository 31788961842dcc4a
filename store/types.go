package store

import "time"

// Channels a record can come in through.
const (
	ChannelEmail = "email" // fetched over IMAP from a configured mailbox
	ChannelFile  = "file"  // ticketd ingest: a file, stdin or an MTA pipe
	ChannelLMTP  = "lmtp"  // delivered by a local mail server over LMTP
)

// Ticket statuses.
const (
	StatusNew    = "new"    // no agent has answered yet
	StatusOpen   = "open"   // in progress
	StatusClosed = "closed" // done; retention counted from closing starts
)

// Origin says where a record came from and when it was stored (GDPR logging).
type Origin struct {
	Channel     string    `json:"channel"`
	Mailbox     string    `json:"mailbox,omitempty"`
	MessageID   string    `json:"message_id,omitempty"`
	UID         uint32    `json:"uid,omitempty"`
	UIDValidity uint32    `json:"uid_validity,omitempty"`
	ReceivedAt  time.Time `json:"received_at"` // IMAP INTERNALDATE; for a file or pipe see ReceivedFrom
	// ReceivedFrom says where ReceivedAt of mail from a file or pipe came
	// from: ReceivedDate, ReceivedMtime or ReceivedImport; "" for IMAP.
	ReceivedFrom string    `json:"received_from,omitempty"`
	StoredAt     time.Time `json:"stored_at"`
}

// Where the received time of mail from a file or pipe came from (Origin.ReceivedFrom).
const (
	ReceivedDate   = "date"   // the mail's Date header
	ReceivedMtime  = "mtime"  // the file's modification time
	ReceivedImport = "import" // the moment ticketd read it
)

// Ticket is one customer request and its conversation.
type Ticket struct {
	Number  uint64 `json:"number"`
	Subject string `json:"subject"`
	Status  string `json:"status"`
	Queue   string `json:"queue"`
	// RoutedBy says how the queue was chosen when the ticket was made: the
	// [[route]] that matched, counted from 1 in the file of that time, with
	// what of it held ("route[2]: to \"billing@example.com\""), or that none
	// did. Empty for tickets made before routing rules existed.
	RoutedBy     string    `json:"routed_by,omitempty"`
	RequesterID  uint64    `json:"requester_id"`
	Participants []uint64  `json:"participants"` // person ids that wrote to the ticket, requester first
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Origin       Origin    `json:"origin"`
	Messages     int       `json:"messages"` // count of messages
	Purpose      string    `json:"purpose"`  // the [[purpose]] its data is processed for
	Language     string    `json:"language"` // "de" | "en": the customer's language
	Ack          *Ack      `json:"acknowledgement,omitempty"`

	ClosedAt time.Time `json:"closed_at,omitzero"`
	// Holds are statutory retention holds: while one is active the ticket is
	// neither changed nor purged.
	Holds []Hold `json:"holds,omitempty"`
	// Restricted is set when processing is restricted (Art. 18), e.g. because
	// consent was not given or was withdrawn: the ticket is kept, not processed.
	Restricted *Restriction `json:"restricted,omitempty"`
	// Objected is set when the customer objected to the processing (Art. 21).
	Objected time.Time `json:"objected,omitzero"`
	// AnonymizedAt is set when names, addresses and text were removed; what is
	// left (number, queue, purpose, timestamps, status) serves statistics.
	AnonymizedAt time.Time `json:"anonymized_at,omitzero"`

	// PurgeAt is when the retention rule next applies to the ticket (zero: not
	// scheduled, e.g. an open ticket whose retention counts from closing);
	// ConsentDue is when the grace period for consent ends without a grant.
	// Both are computed by the store's Planner on every write and indexed by time.
	PurgeAt    time.Time `json:"purge_at,omitzero"`
	ConsentDue time.Time `json:"consent_due,omitzero"`

	// Assignee is the address of the agent the ticket is assigned to
	// (lower case), "" when it is its queue's.
	Assignee string `json:"assignee,omitempty"`
	// DueAt is when the first answer is promised (the queue's
	// response_time from CreatedAt, in its business hours); zero for
	// tickets made before service levels existed.
	DueAt time.Time `json:"due_at,omitzero"`
	// AnsweredAt is when an agent's first answer was queued for the customer.
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	// RemindedFor and EscalatedFor are the DueAt a reminder to the agents
	// and an escalation to the supervisors were sent for: each goes once
	// per ticket and due time.
	RemindedFor  time.Time `json:"reminded_for,omitzero"`
	EscalatedFor time.Time `json:"escalated_for,omitzero"`
	// ServiceAt is when the service-level run next has to look at the
	// ticket (its DueAt while a reminder or escalation is still to come),
	// zero when never; computed on every write and indexed by time.
	ServiceAt time.Time `json:"service_at,omitzero"`
	// Follows is the closed ticket this one continues: a customer wrote to
	// it after its reopen_within had passed.
	Follows uint64 `json:"follows,omitempty"`
	// Notified lists the mail with this ticket's personal data sent to
	// agents: copies outside the store, beyond its purges, which the
	// erasure report, the subject export and the record of processing name.
	Notified []Notified `json:"notified,omitempty"`
}

// Notified is one mail about a ticket sent to an agent.
type Notified struct {
	Agent   string    `json:"agent"`             // the agent's address
	Kind    string    `json:"kind"`              // NotifyNew, NotifyMessage, NotifyShow, ...
	Message uint64    `json:"message,omitempty"` // the customer message it carried
	Content string    `json:"content"`           // what of it: "full", "excerpt", "facts"
	At      time.Time `json:"at"`
}

// Kinds of Notified.
const (
	NotifyNew        = "new ticket"
	NotifyMessage    = "customer message"
	NotifyShow       = "show"
	NotifyReminder   = "reminder"
	NotifyEscalation = "escalation"
	NotifyDigest     = "digest"
)

// Hold is a statutory retention hold on a ticket ([[hold]] in the config).
type Hold struct {
	Category string    `json:"category"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	By       Actor     `json:"by"` // who set it: ActorAdmin, ActorRule, ActorAgent
}

// Active reports whether the hold still applies at now.
func (h Hold) Active(now time.Time) bool { return now.Before(h.Until) }

// HeldUntil is the end of the latest hold still active at now (zero if none).
func (tk *Ticket) HeldUntil(now time.Time) time.Time {
	var until time.Time
	for _, h := range tk.Holds {
		if h.Active(now) && h.Until.After(until) {
			until = h.Until
		}
	}
	return until
}

// RestrictedNoConsent is the Restriction reason when a purpose based on
// consent was not granted within its grace period, or was withdrawn. A later
// grant lifts such a restriction.
const RestrictedNoConsent = "consent not given or withdrawn"

// Restriction records that processing of a ticket is restricted, and why.
type Restriction struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
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
	Email string `json:"email"` // lower-cased domain, local part as given
	// Group is the display name of the group (RFC 5322 section 3.4) a
	// parsed address was listed in, "" outside a group. An empty group
	// ("Undisclosed recipients:;") lists no address. Stored messages
	// leave it empty.
	Group string `json:"group,omitempty"`
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

// DroppedAttachment is an attachment of a mail that was not stored: its
// content is gone, what is left is the note why.
type DroppedAttachment struct {
	Filename    string `json:"filename,omitempty"` // as the mail named it
	ContentType string `json:"content_type"`       // the type its content was sniffed as
	Declared    string `json:"declared,omitempty"` // the part's declared Content-Type
	Size        int64  `json:"size"`               // decoded bytes
	Reason      string `json:"reason"`             // e.g. "type application/vnd.microsoft.portable-executable refused"
}

// Message is one mail of a ticket.
type Message struct {
	ID        uint64 `json:"id"`
	Ticket    uint64 `json:"ticket"`
	Direction string `json:"direction"` // DirectionIn, DirectionOut, DirectionNote, DirectionRefused
	// AgentID and Agent name the agent who wrote a message that is not
	// "in" (the id of its reply addresses and the address).
	AgentID uint64 `json:"agent_id,omitempty"`
	Agent   string `json:"agent,omitempty"`
	// Refused says why an agent's mail was not relayed (DirectionRefused).
	Refused string `json:"refused,omitempty"`
	// OutboxID is the outbox item that carries an answer (DirectionOut).
	OutboxID uint64 `json:"outbox_id,omitempty"`
	// Commands are the command lines of an agent's mail that were carried
	// out ("#close"), in order.
	Commands     []string     `json:"commands,omitempty"`
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
	DedupKey     string       `json:"dedup_key,omitempty"`   // the key AddMessage recorded it under, removed with it
	Origin       Origin       `json:"origin"`

	// Redacted counts what was removed from subject, text, HTML and text
	// attachments before storing, by kind ("card number": 2); never the
	// value.
	Redacted map[string]int `json:"redacted,omitempty"`
	// ReplyTo is the Reply-To of the mail.
	ReplyTo []Address `json:"reply_to,omitempty"`
	// AutoSubmitted is the Auto-Submitted header field as given (RFC 3834).
	AutoSubmitted string `json:"auto_submitted,omitempty"`
	// AuthResult is the verdict of the topmost Authentication-Results field
	// of a trusted authserv-id: its method=result pairs ("dkim=pass
	// spf=pass"); "" when there is none.
	AuthResult string `json:"auth_result,omitempty"`
	// Headers are the header fields [minimise] keep_headers names, by
	// canonical name, in the order of the mail.
	Headers map[string][]string `json:"headers,omitempty"`
	// Original is the raw mail as received, before redaction, stored only
	// with [minimise] keep_original; its blob is referenced, encrypted and
	// purged like the attachments' (Blobs).
	Original *Attachment `json:"original,omitempty"`

	// Dropped are the attachments the [attachments] policy refused: not
	// stored, noted here so that the refusal is never silent.
	Dropped []DroppedAttachment `json:"dropped,omitempty"`
}

// Blobs are the blobs a message refers to: its attachments and its
// original.
func (m *Message) Blobs() []Attachment {
	if m.Original == nil {
		return m.Attachments
	}
	return append(append([]Attachment{}, m.Attachments...), *m.Original)
}

// Message directions.
const (
	DirectionIn      = "in"      // from the customer (or anyone not an agent)
	DirectionOut     = "out"     // an agent's answer, relayed to the customer
	DirectionNote    = "note"    // an agent's internal note, never sent
	DirectionRefused = "refused" // an agent's mail that failed a check: never sent
)

// Person is a data subject: someone who wrote to support.
type Person struct {
	ID        uint64    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Offboarded is when the customer left: their tickets are anonymised as
	// soon as no hold remains.
	Offboarded time.Time `json:"offboarded,omitzero"`
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
	Actor      Actor     `json:"actor"`
	Action     Action    `json:"action"` // made by the constructor of its kind (events.go)
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

// Consent decisions.
const (
	ConsentGranted   = "granted"
	ConsentWithdrawn = "withdrawn"
	ConsentObjected  = "objected" // an objection to processing on a basis other than consent (Art. 21)
)

// ConsentRecord is one decision of a person about one purpose. Records are
// kept as a history, never overwritten: together they prove what was decided,
// when, through which channel and on which notice (GDPR Art. 7(1)).
type ConsentRecord struct {
	Seq        uint64    `json:"seq"`
	Person     uint64    `json:"person"`
	Purpose    string    `json:"purpose"`
	Decision   string    `json:"decision"` // granted | withdrawn | objected
	At         time.Time `json:"at"`
	Channel    string    `json:"channel"` // "link": the consent page; "admin": recorded by an admin
	TokenID    string    `json:"token_id,omitempty"`
	Ticket     uint64    `json:"ticket,omitempty"`
	NoticeHash string    `json:"notice_hash,omitempty"` // SHA-256 of the notice text the person was shown
}
