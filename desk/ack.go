package desk

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"ticketd/config"
	"ticketd/mail/mime"
	"ticketd/mail/smtp"
	"ticketd/store"
	"ticketd/templates"
)

// ackReason values for suppressions that are not loop rules.
const (
	reasonDisabled = "acknowledgements are disabled ([acknowledgement] enabled = false)"
	reasonOldMail  = "the mail was in the mailbox before ticketd first read it"
	reasonSilent   = "imported without acknowledgement (ingest -silent)"
	// reasonRetried: a mail that becomes a ticket by quarantine retry
	// more than retryAckAge after it was received gets no acknowledgement.
	reasonRetried = "taken from quarantine by quarantine retry a week or more after it was received"
	// reasonReplyToOnly: the mail names no author, only a Reply-To, which
	// is never the destination of an automatic response (RFC 3834 §4).
	reasonReplyToOnly = "no From or Sender address, and no acknowledgement goes to a Reply-To address"
	// reasonSpam prefixes the verdict of a trusted spam filter header
	// (mime.SpamPolicy): the reason for no acknowledgement, or with
	// [spam] action = "quarantine" the quarantine reason.
	reasonSpam = "marked by the spam filter: "
)

// acknowledge decides on and, unless suppressed, queues the acknowledgement
// of a new ticket, in the ticket's own transaction: no ticket without its
// queued mail, no mail for a rolled-back ticket. A suppression is recorded on
// the ticket with its reason.
func (d *Desk) acknowledge(tx *store.Tx, rt *setup, tk *store.Ticket, m *mime.Message, person *store.Person, from string, suppress, spam string, redacted map[string]int) (queued bool, err error) {
	cfg := rt.cfg
	// The acknowledgement goes to the requester, the address the ticket's
	// person was made from, never to a Reply-To: the consent link in it acts
	// for that person, so it must reach that person's address (see README,
	// "The acknowledgement").
	// person was made from sender(m) in this transaction (Desk.store), so
	// the requester and the recipient are one address.
	to := sender(m)
	to.Name = templates.EchoName(to.Name)
	if suppress == "" && m.From.Email == "" && m.Sender.Email == "" && len(m.ReplyTo) > 0 && to.Email == m.ReplyTo[0].Email {
		suppress = reasonReplyToOnly
	}
	if suppress == "" && !cfg.Acknowledgement.On() {
		suppress = reasonDisabled
	}
	if suppress == "" {
		suppress = rt.policy.Suppress(m)
	}
	if suppress == "" {
		suppress = spam // no backscatter
	}
	if suppress == "" {
		ok, err := tx.TakeAckSlot(to.Email, cfg.Acknowledgement.MaxPerSender, cfg.Acknowledgement.Window.Duration)
		if err != nil {
			return false, err
		}
		if !ok {
			suppress = fmt.Sprintf("rate limit: %d acknowledgements to this address within %v", cfg.Acknowledgement.MaxPerSender, cfg.Acknowledgement.Window)
		}
	}
	if suppress != "" {
		tk.Ack = &store.Ack{Status: "suppressed", Reason: suppress}
		return false, tx.UpdateTicket(tk, store.TicketAckSuppressed(tk.Number, store.ActorSystem))
	}

	queue := cfg.Queue(tk.Queue)
	purpose := cfg.Purpose(tk.Purpose)
	now := tx.Now()
	token, claims, err := rt.signer.Issue(tk.Number, person.ID, to.Email, purpose.Name, now.Add(cfg.Acknowledgement.ConsentLinkValidity.Duration))
	if err != nil {
		return false, err
	}
	var due time.Time
	if bh := queue.BusinessHours; bh != nil && !tk.DueAt.IsZero() {
		due = tk.DueAt.In(bh.Location) // counted in business hours: the promise names the time
	}
	r, err := rt.templates.Ack(templates.Ack{
		Lang: tk.Language, Ticket: tk.Number, Subject: tk.Subject, RequesterName: to.Name, Due: due,
		ResponseTime: queue.ResponseTime.Duration, ConsentURL: strings.TrimSuffix(cfg.Server.PublicURL, "/") + "/consent/" + token,
		Controller: cfg.Controller, Purpose: *purpose, SupportAddress: from, Redacted: redactedKinds(redacted),
	})
	if err != nil {
		return false, fmt.Errorf("render acknowledgement of ticket %d: %w", tk.Number, err)
	}
	msgID := fmt.Sprintf("ticketd.%d.%s@%s", tk.Number, strings.ToLower(rand.Text()[:12]), domainOf(from))
	refs := slices.Clone(m.References)
	if m.MessageID != "" {
		refs = append(refs, m.MessageID)
	}
	raw, err := smtp.Compose(smtp.AutoReply{
		From: store.Address{Name: cfg.Controller.Name, Email: from}, To: to,
		Subject: fmt.Sprintf("[#%d] %s", tk.Number, templates.EchoSubject(tk.Subject)), MessageID: msgID, InReplyTo: m.MessageID,
		References: refs, Date: now, Language: tk.Language, Instance: rt.instance, Text: r.Text, HTML: r.HTML,
	})
	if err != nil {
		return false, err
	}
	item := &store.OutboxItem{Ticket: tk.Number, Kind: "acknowledgement", MessageID: msgID, From: cfg.SMTP.From,
		To: []string{to.Email}, Raw: raw, GiveUpAt: now.Add(cfg.SMTP.RetryFor.Duration)}
	if err := tx.Enqueue(item, store.ActorSystem); err != nil {
		return false, err
	}
	if err := tx.IndexMessageID(msgID, tk.Number); err != nil {
		return false, err
	}
	if err := tx.RecordConsentToken(&store.ConsentToken{ID: claims.ID, Ticket: tk.Number, Person: person.ID,
		Purpose: purpose.Name, Expires: claims.Expires, NoticeHash: r.NoticeHash}, store.ActorSystem); err != nil {
		return false, err
	}
	tk.Ack = &store.Ack{Status: "queued", OutboxID: item.ID, MessageID: msgID, NoticeHash: r.NoticeHash,
		Language: tk.Language, ConsentID: claims.ID}
	return true, tx.UpdateTicket(tk, store.TicketAckQueued(tk.Number, store.ActorSystem))
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// ownAddresses are the addresses ticketd sends from: mail from them is never acknowledged.
func ownAddresses(cfg *config.Config) []string {
	own := []string{cfg.SMTP.From}
	for _, b := range cfg.Mailboxes {
		own = append(own, b.Address)
	}
	return own
}
