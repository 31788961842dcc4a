package desk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ticketd/config"
	"ticketd/consent"
	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/mime"
	"ticketd/mail/redact"
	"ticketd/metrics"
	"ticketd/retention"
	"ticketd/store"
	"ticketd/templates"
)

// Desk turns mail into tickets and queues their acknowledgements.
type Desk struct {
	DB  *store.DB
	Log *slog.Logger
	// Wake, when set, is called after a commit that queued outgoing mail.
	Wake func()
	// Spool is where IngestFrom spools large mail; "" means a directory
	// of its own beside the database for each mail.
	Spool string
	// Metrics, when set, counts what each committed mail became
	// (metrics.go), the purges and the erasures.
	Metrics *metrics.Metrics

	signer *consent.Signer
	keys   agentKeys
	rt     atomic.Pointer[setup]
}

// setup is what one configuration needs, swapped as a whole on reload.
type setup struct {
	cfg       *config.Config
	templates *templates.Set
	policy    *mime.AutoReplyPolicy
	spam      *mime.SpamPolicy
	// attachments is the [attachments] policy the parser applies.
	attachments *mime.AttachmentPolicy
	signer      *consent.Signer
	instance    string
	staff       map[string]*staff // agents and supervisors by address
	// redactor and keepHeaders minimise each mail (minimise.go).
	redactor    *redact.Redactor
	keepHeaders []string
}

// New returns a Desk working with cfg: it loads the templates (with the
// overrides of server.templates_dir), the agent key (agents.go) and the consent key of the data
// directory (created with a new store, never for an existing one), and
// installs the retention planner in db, which plans each ticket with the
// configuration in use.
func New(db *store.DB, cfg *config.Config, log *slog.Logger) (*Desk, error) {
	// Only a new store gets a new key; an existing one without its key
	// would issue links that do not match those already mailed.
	load := consent.ReadKey
	if db.Created() {
		load = consent.LoadKey
	}
	signer, err := load(db.Dir())
	if err != nil {
		return nil, err
	}
	d := &Desk{DB: db, Log: log, signer: signer}
	if err := d.loadAgentKey(); err != nil {
		return nil, err
	}
	if err := d.SetConfig(cfg); err != nil {
		return nil, err
	}
	db.SetPlanner(retention.Planner(d.Config))
	return d, nil
}

// SetConfig replaces the configuration (on reload); batches in progress
// finish with the old one. On error the old one stays.
func (d *Desk) SetConfig(cfg *config.Config) error {
	apply, err := d.PrepareConfig(cfg)
	if err != nil {
		return err
	}
	apply()
	return nil
}

// PrepareConfig does everything a new configuration needs that can fail
// (loading its templates) and returns the function that puts it in force,
// which cannot fail: a reload prepares every part first and applies all of
// them only when none failed.
func (d *Desk) PrepareConfig(cfg *config.Config) (apply func(), err error) {
	tmpl, err := templates.Load(cfg.Server.TemplatesDir)
	if err != nil {
		return nil, err
	}
	red, err := redact.New(cfg.RedactRules())
	if err != nil {
		return nil, err
	}
	rt := &setup{cfg: cfg, templates: tmpl, signer: d.signer, instance: d.DB.InstanceID(), staff: staffOf(cfg),
		redactor: red, keepHeaders: headersToParse(cfg),
		policy:      &mime.AutoReplyPolicy{OwnAddresses: ownAddresses(cfg)},
		spam:        &mime.SpamPolicy{Trust: cfg.Spam.Trust, AuthservIDs: cfg.Spam.AuthservIDs},
		attachments: attachmentPolicy(cfg)}
	return func() { d.rt.Store(rt) }, nil
}

// Config is the configuration in use.
func (d *Desk) Config() *config.Config { return d.rt.Load().cfg }

func (d *Desk) wake() {
	if d.Wake != nil {
		d.Wake()
	}
}

// Outcome is what became of one mail.
type Outcome struct {
	Ticket     uint64 `json:"ticket,omitempty"`
	Message    uint64 `json:"message,omitempty"`
	NewTicket  bool   `json:"new_ticket,omitempty"`
	Duplicate  bool   `json:"duplicate,omitempty"`
	Quarantine uint64 `json:"quarantine,omitempty"`
	Reason     string `json:"reason,omitempty"` // why it was quarantined
	AckQueued  bool   `json:"ack_queued,omitempty"`
	AckReason  string `json:"ack_suppressed,omitempty"` // why a new ticket got no acknowledgement
	// Mailed: other mail was queued for it (agent notifications, a relayed
	// answer, a refusal or hint to an agent).
	Mailed bool `json:"mailed,omitempty"`
	// AgentReply says what became of an agent's mail: "out" (relayed to
	// the customer), "note", "refused: CHECK"; "" for a customer's mail.
	AgentReply string `json:"agent_reply,omitempty"`

	queue string // the queue of a new ticket, for the metrics
}

// parsed is a mail after parsing, before storing.
type parsed struct {
	f      *mail.Fetched
	msg    *mime.Message
	reason string // non-empty: quarantine with this reason
	// logged is the reason as a log line may carry it: a parse error's
	// kind without its detail, which can quote the mail.
	logged string
	// spam is the verdict of a trusted spam filter header with its
	// reasonSpam prefix, "" for none: no acknowledgement goes to such mail,
	// and with [spam] action = "quarantine" it is also the reason.
	spam string
	// redacted counts what minimise removed, by kind; original is the raw
	// mail's blob with keep_original.
	redacted map[string]int
	original *store.Attachment
	headers  map[string][]string // the keep_headers fields, redacted
}

// Prepare implements imap.Deliverer: it parses the batch (in parallel, the
// attachments to blob files) outside any transaction. The Supervisor then
// calls Write in the transaction that also records the mailbox checkpoint.
func (d *Desk) Prepare(ctx context.Context, b *imap.Batch) (imap.Prepared, error) {
	rt := d.rt.Load()
	box := rt.cfg.Mailbox(b.Mailbox)
	if box == nil {
		return nil, fmt.Errorf("deliver: mailbox %q is not configured", b.Mailbox)
	}
	start := time.Now()
	blobs := d.DB.NewBlobWriter()
	items, err := d.parseAll(rt, b.Mails, blobs)
	if err != nil {
		return nil, err
	}
	return &batch{d: d, rt: rt, b: b, box: box, items: items, blobs: blobs, start: start}, nil
}

// batch is a parsed batch of fetched mail, ready to be stored.
type batch struct {
	d     *Desk
	rt    *setup
	b     *imap.Batch
	box   *config.Mailbox
	items []*parsed
	blobs *store.BlobWriter
	acks  bool // the last Write queued an acknowledgement
	start time.Time
	outs  []Outcome // of the last Write, counted when it is committed
}

// Write stores every mail of the batch in tx (a quarantine record, nothing
// for a duplicate, or a ticket message) and says which became a quarantine
// record.
func (b *batch) Write(tx *store.Tx) ([]imap.Result, error) {
	b.acks, b.outs = false, b.outs[:0]
	results := make([]imap.Result, len(b.items))
	for i, it := range b.items {
		origin := store.Origin{Channel: store.ChannelEmail, Mailbox: b.b.Mailbox, UID: it.f.UID,
			UIDValidity: b.b.UIDValidity, ReceivedAt: it.f.InternalDate}
		suppress := ""
		if it.f.UID < b.b.FirstUIDNext {
			suppress = reasonOldMail
		}
		out, err := b.d.store(tx, b.rt, it, origin, b.box.Queue, b.box.Address, suppress, b.blobs)
		if err != nil {
			return nil, err
		}
		results[i].Quarantined = out.Quarantine != 0
		b.acks = b.acks || out.AckQueued || out.Mailed
		b.outs = append(b.outs, out)
	}
	if err := tx.PutBlobs(b.blobs); err != nil {
		return nil, err
	}
	return results, nil
}

// Committed counts the batch's mails and wakes the outbox when the batch
// queued an acknowledgement.
func (b *batch) Committed() {
	b.d.Metrics.Fetched(b.b.Mailbox, len(b.b.Mails))
	b.d.counted(store.ChannelEmail, b.start, b.outs...)
	if b.acks {
		b.d.wake()
	}
}

// Ingest stores one mail that came from a file or a pipe (channel "file").
// mailbox may be "" (then the first queue gets the ticket, and the
// acknowledgement comes from smtp.from). silent stores a new ticket without
// acknowledgement (a migration).
func (d *Desk) Ingest(ctx context.Context, f *mail.Fetched, mailbox string, silent bool) (Outcome, error) {
	rt := d.rt.Load()
	cfg := rt.cfg
	queue, from := cfg.Queues[0].Name, cfg.SMTP.From
	if mailbox != "" {
		box := cfg.Mailbox(mailbox)
		if box == nil {
			return Outcome{}, fmt.Errorf("ingest: mailbox %q is not configured", mailbox)
		}
		queue, from = box.Queue, box.Address
	}
	suppress := ""
	if silent {
		suppress = reasonSilent
	}
	start := time.Now()
	blobs := d.DB.NewBlobWriter()
	items, err := d.parseAll(rt, []*mail.Fetched{f}, blobs)
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	err = d.DB.Update(func(tx *store.Tx) error {
		origin := store.Origin{Channel: store.ChannelFile, Mailbox: mailbox}
		origin.ReceivedAt, origin.ReceivedFrom = receivedAt(items[0], tx.Now())
		if out, err = d.store(tx, rt, items[0], origin, queue, from, suppress, blobs); err != nil {
			return err
		}
		return tx.PutBlobs(blobs)
	})
	if err == nil {
		d.counted(store.ChannelFile, start, out)
	}
	if err == nil && (out.AckQueued || out.Mailed) {
		d.wake()
	}
	return out, err
}

// Bounds of a plausible Date header for mail from a file or pipe.
const (
	// dateSkew is how far a Date may lie ahead of the clock (or of a
	// file's modification time): senders' clocks are off by minutes.
	dateSkew = 15 * time.Minute
	// pipeDelay is how old the Date of mail piped in by an MTA may be: a
	// relay queue gives up after about five days (RFC 5321 4.5.4.1).
	pipeDelay = 7 * 24 * time.Hour
)

// receivedAt is when a mail from a file or pipe counts as received, and
// where that time came from. Retention counts from it, so it must not be
// later than the truth (migrated mail would be kept too long) nor be a
// claim a sender can push into the past (its ticket would be purged early):
//   - a file (a migration): its Date header when that is not after the
//     file's modification time, else the modification time;
//   - a pipe (an MTA delivering now): its Date header when that lies within
//     the last week, else now.
//
// A Date ahead of the reference by more than dateSkew is never taken.
func receivedAt(it *parsed, now time.Time) (time.Time, string) {
	var date time.Time
	if it.msg != nil {
		date = it.msg.Date
	}
	if mtime := it.f.Modified; !mtime.IsZero() {
		if !date.IsZero() && date.Year() >= 1970 && !date.After(mtime.Add(dateSkew)) {
			return date, store.ReceivedDate
		}
		if !mtime.After(now) {
			return mtime, store.ReceivedMtime
		}
		return now, store.ReceivedImport
	}
	if !date.IsZero() && !date.After(now.Add(dateSkew)) && date.After(now.Add(-pipeDelay)) {
		return date, store.ReceivedDate
	}
	return now, store.ReceivedImport
}

// parseAll parses the mails in parallel, their attachments going to blobs.
// Only a failure to store blobs is an error; anything wrong with a mail is its reason.
// The spam verdict is read here too, once and outside any transaction.
func (d *Desk) parseAll(rt *setup, mails []*mail.Fetched, blobs *store.BlobWriter) ([]*parsed, error) {
	items := make([]*parsed, len(mails))
	errs := make([]error, len(mails))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, f := range mails {
		items[i] = &parsed{f: f}
		if f.Failed != "" {
			items[i].reason = f.Failed
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = d.parseOne(rt, items[i], blobs)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.msg == nil || it.reason != "" {
			continue
		}
		if v := rt.spam.Verdict(it.msg); v != "" {
			it.spam = reasonSpam + v
			if rt.cfg.Spam.Action == "quarantine" {
				it.reason = it.spam
			}
		}
	}
	return items, nil
}

func (d *Desk) parseOne(rt *setup, it *parsed, blobs *store.BlobWriter) (err error) {
	defer func() {
		if r := recover(); r != nil {
			it.reason, it.logged = fmt.Sprintf("parser failure: %v", r), "parser failure"
			err = nil
		}
	}()
	r, err := it.f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	counts := redact.Counts{}
	msg, err := mime.Parse(r, blobs, rt.parseOptions(counts))
	var pe *mime.ParseError
	switch {
	case errors.As(err, &pe):
		it.reason, it.logged = pe.Error(), "parse mail: "+pe.Reason
		return nil
	case err != nil:
		return err
	}
	it.msg = msg
	if sender(msg).Email == "" {
		it.reason = "no sender address (From, Sender, Reply-To and Return-Path are empty or unreadable)"
		return nil
	}
	return d.minimise(rt, it, counts, blobs)
}

// logReason is why it was quarantined, as the log says it.
func logReason(it *parsed) string {
	if it.logged != "" {
		return it.logged
	}
	return it.reason
}

// keepHeaders are the header fields the loop, spam and routing rules read;
// they are not stored.
var keepHeaders = slices.Concat(mime.KeepHeaders, mime.SpamHeaders, config.RouteHeaders)

// sender is who a mail is from: From, else Sender, Reply-To or Return-Path.
func sender(m *mime.Message) store.Address {
	switch {
	case m.From.Email != "":
		return m.From
	case m.Sender.Email != "":
		return m.Sender
	case len(m.ReplyTo) > 0 && m.ReplyTo[0].Email != "":
		return m.ReplyTo[0]
	}
	rp := strings.Trim(strings.TrimSpace(m.ReturnPath), "<>")
	if strings.Contains(rp, "@") {
		return store.Address{Email: rp}
	}
	return store.Address{}
}

// store writes one parsed mail: a quarantine record, nothing (a duplicate), or
// a ticket message; a new ticket goes to the queue its routing rules choose
// (route), else to queue, and gets its acknowledgement queued from address
// from unless suppress (or a rule) says why not.
func (d *Desk) store(tx *store.Tx, rt *setup, it *parsed, origin store.Origin, queue, from, suppress string, blobs *store.BlobWriter) (Outcome, error) {
	// A new ticket is written when created, with its message and with its
	// acknowledgement (and its agents' copies): stored once, at the end.
	tx.DeferTicketWrites()
	f := it.f
	if it.reason != "" {
		return d.quarantine(tx, it, origin, blobs)
	}
	m := it.msg
	origin.MessageID = m.MessageID
	key := store.DedupKey(origin.Mailbox, m.MessageID, f.Hash)
	if id, ok := tx.SeenMail(key); ok {
		if id == 0 { // imported before and erased since
			return Outcome{Duplicate: true}, nil
		}
		msg, err := tx.Message(id)
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{Ticket: msg.Ticket, Message: id, Duplicate: true}, nil
	}
	if out, ok, err := d.fromAgent(tx, rt, it, origin, key, from, blobs); ok || err != nil {
		return out, err
	}
	who := sender(m)
	person, err := tx.EnsurePerson(who.Email, who.Name, store.ActorSystem)
	if err != nil {
		return Outcome{}, err
	}
	number, how, err := thread(tx, m, person.ID)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Ticket: number}
	var tk, created *store.Ticket
	var follows uint64
	if number != 0 {
		if tk, err = tx.Ticket(number); err != nil {
			return Outcome{}, err
		}
		if tk.Status == store.StatusClosed && tk.AnonymizedAt.IsZero() {
			if tx.Now().Sub(tk.ClosedAt) <= rt.cfg.Queue(tk.Queue).ReopenAfter() {
				// A customer's reply reopens the ticket.
				if err := changeStatus(tx, tk, store.StatusOpen, store.ActorSystem); err != nil {
					return Outcome{}, err
				}
			} else {
				follows, tk = tk.Number, nil
			}
		}
	}
	if tk == nil {
		subject := strings.TrimSpace(m.Subject)
		if subject == "" {
			subject = "(no subject)"
		}
		queue, routedBy := route(rt.cfg, origin.Mailbox, m, who, queue)
		if follows != 0 {
			how = fmt.Sprintf("%s to ticket %d, closed longer than reopen_within: a new ticket", how, follows)
		}
		now := tx.Now()
		q := rt.cfg.Queue(queue)
		created = &store.Ticket{Subject: subject, Status: store.StatusNew, Queue: queue, RoutedBy: routedBy,
			RequesterID: person.ID, Participants: []uint64{person.ID}, Origin: origin, Purpose: q.Purpose,
			Language: templates.Language(m.ContentLanguage, m.Text, rt.cfg.Server.Language),
			Follows:  follows, DueAt: dueAt(q, now)}
		retention.ApplyHoldRules(rt.cfg, created, now)
		if err := tx.CreateTicket(created, store.ActorSystem); err != nil {
			return Outcome{}, err
		}
		tk, out.Ticket, out.NewTicket, out.queue = created, created.Number, true, queue
	}
	sm := &store.Message{Ticket: out.Ticket, Direction: "in", PersonID: person.ID,
		From: stored(who), To: storedList(m.To), Cc: storedList(m.Cc), Subject: m.Subject, MessageID: m.MessageID,
		InReplyTo: m.InReplyTo, References: m.References, Date: m.Date, Language: m.ContentLanguage,
		Text: m.Text, HTML: m.HTML, TextFromHTML: m.TextFromHTML, Size: f.Size, ContentHash: f.Hash,
		Warnings: m.Warnings, ThreadedBy: how, Origin: origin}
	minimal(rt, it, sm)
	for _, a := range m.Attachments {
		sm.Attachments = append(sm.Attachments, store.Attachment(a))
	}
	sm.Dropped = droppedOf(m)
	if err := tx.AddMessage(tk, sm, key, store.ActorSystem); err != nil {
		return Outcome{}, err
	}
	out.Message = sm.ID
	if created != nil {
		if out.AckQueued, err = d.acknowledge(tx, rt, tk, m, person, from, suppress, it.spam, it.redacted); err != nil {
			return Outcome{}, err
		}
		if tk.Ack != nil {
			out.AckReason = tk.Ack.Reason
		}
	}
	// Agents hear of new customer mail, but not of mail imported silently
	// (old mail, a migration), of what a trusted spam filter marked, nor of
	// ticketd's own mail come back (a forwarding mailbox would loop).
	if suppress == "" && it.spam == "" && !rt.policy.FromTicketd(m) {
		if out.Mailed, err = d.notifyAgents(tx, rt, tk, sm, created != nil); err != nil {
			return Outcome{}, err
		}
	}
	d.Log.Info("mail stored", "ticket", out.Ticket, "message", sm.ID, "new_ticket", out.NewTicket,
		"queue", tk.Queue, "channel", origin.Channel, "mailbox", origin.Mailbox, "uid", origin.UID, "threaded_by", how)
	return out, nil
}

func (d *Desk) quarantine(tx *store.Tx, it *parsed, origin store.Origin, blobs *store.BlobWriter) (Outcome, error) {
	f := it.f
	key := f.Hash
	if key == "" {
		key = fmt.Sprintf("unread %d %d", f.Size, f.InternalDate.Unix())
	}
	if tx.QuarantineSeen(origin.Mailbox, key) {
		return Outcome{Duplicate: true, Reason: it.reason}, nil
	}
	q := &store.Quarantine{Reason: it.reason, Size: f.Size, ContentHash: f.Hash, Origin: origin}
	if it.msg != nil {
		q.Origin.MessageID = it.msg.MessageID
	}
	if f.Hash != "" {
		// Keep the raw mail: for a file or a pipe nothing else holds it.
		r, err := f.Open()
		if err != nil {
			return Outcome{}, err
		}
		q.Blob, _, err = blobs.Put(r)
		r.Close()
		if err != nil {
			return Outcome{}, err
		}
	}
	if err := tx.AddQuarantine(q, key, store.ActorSystem); err != nil {
		return Outcome{}, err
	}
	d.Log.Warn("mail quarantined", "quarantine", q.ID, "mailbox", origin.Mailbox, "uid", origin.UID, "reason", logReason(it))
	return Outcome{Quarantine: q.ID, Reason: it.reason}, nil
}

var subjectTag = regexp.MustCompile(`\[#(\d{1,19})\]`)

// thread finds the ticket a mail belongs to (0: a new ticket) and says how.
func thread(tx *store.Tx, m *mime.Message, person uint64) (uint64, string, error) {
	for _, id := range m.InReplyTo {
		if n, ok := tx.TicketByMessageID(id); ok {
			return n, "in-reply-to", nil
		}
	}
	for _, id := range slices.Backward(m.References) {
		if n, ok := tx.TicketByMessageID(id); ok {
			return n, "references", nil
		}
	}
	for _, sm := range subjectTag.FindAllStringSubmatch(m.Subject, -1) {
		n, err := strconv.ParseUint(sm[1], 10, 64)
		if err != nil {
			continue
		}
		tk, err := tx.Ticket(n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, "", err
		}
		if slices.Contains(tk.Participants, person) {
			return n, "subject-tag", nil
		}
	}
	return 0, "", nil
}

// stored is an address as a stored message holds it: without the group it
// was listed in, which the ticket does not need (GDPR Art. 5(1)(c)).
func stored(a store.Address) store.Address {
	a.Group = ""
	return a
}

func storedList(as []store.Address) []store.Address {
	out := make([]store.Address, 0, len(as))
	for _, a := range as {
		out = append(out, stored(a))
	}
	return out
}
