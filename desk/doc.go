// Package desk is the ticket workflow: it ties mail, store, templates and
// consent together, turning fetched mail into tickets and acknowledgements,
// and carries out the data subjects' rights and the record of processing.
//
// # One mail, step by step
//
//  1. Parse (mime.Parse). A mail that cannot be parsed, is over the size limit,
//     has no sender address, or makes the parser fail becomes a quarantine
//     record with its reason and its raw content; it never blocks the mailbox.
//     Minimise a parsed mail, still outside any transaction (minimise.go):
//     card numbers, IBANs and [[redact]] patterns are replaced in subject,
//     text, HTML, kept header fields and text attachments (counted in
//     Message.Redacted), only the minimal header and keep_headers are
//     kept, and the raw mail only with keep_original.
//  2. Dedup: mailbox + Message-ID + SHA-256 of the raw mail. A mail stored
//     before (a crash between commit and after_import, a UIDVALIDITY rescan, a
//     file imported twice) is skipped. The same mail in two mailboxes makes two
//     tickets.
//  3. Thread: In-Reply-To, then References (newest first), against the stored
//     Message-IDs; then a subject tag "[#N]", which only counts when the sender
//     already wrote to ticket N (a guessed number must not attach mail to a
//     stranger's ticket). An empty Message-ID never matches.
//  4. Route a new ticket (route.go): the queue of the first [[route]] that
//     matches its mail (config.Config.Route; the recipients are To, Cc and
//     config.RouteHeaders), else the mailbox's queue; the ticket records
//     which in RoutedBy, and its purpose is its queue's. A reply that
//     threads into a ticket keeps the ticket's queue.
//     Store the person, the ticket (new) and the message, with the origin
//     (channel, mailbox, Message-ID, UID, INTERNALDATE, stored at), in the
//     same transaction as the rest of the batch and the mailbox checkpoint:
//     Desk is the imap.Deliverer, Prepare parses outside the transaction,
//     and the Supervisor calls Write in the transaction in which it, the
//     checkpoint's only writer, records the checkpoint. Write says for each
//     mail whether it became a quarantine record (imap.Result); desk writes
//     nothing on the fetched mail. A new ticket gets the legal holds whose rule picks it, and the retention
//     planner that New installs in the store plans its purge.
//  5. A new ticket is acknowledged in that same transaction: the
//     acknowledgement (with the transparency notice and a recorded consent
//     token) goes into the outbox, or its suppression is recorded on the
//     ticket with the reason: old mail (below the mailbox's first UIDNEXT),
//     mime.AutoReplyPolicy's loop rules, a trusted spam filter's verdict
//     (mime.SpamPolicy, [spam]), the per-address rate limit, or
//     acknowledgements disabled. Wake tells the outbox after the commit.
//     With [spam] action = "quarantine" a mail with such a verdict becomes a
//     quarantine entry instead, before step 4.
//  6. Before step 4, a mail written to an agent reply address (a "+t"
//     subaddress) is an agent's (agents.go, relay.go): agent.VerifyAgentReply
//     checks the address, the From and the own server's authentication;
//     the agent must work the ticket's queue (rt.mayWork). A verified reply
//     has its quote cut (reply.Strip), its commands checked all before any
//     is carried out, and its text stored (store.DirectionOut) and queued
//     for the customer (relay), in the same transaction; a refused one is
//     stored on its ticket (store.DirectionRefused) or quarantined, audited
//     (store.AgentRefused) and answered with a refusal. Mail from an
//     agent's address without a reply address is quarantined and answered
//     with a hint: it makes no customer ticket.
//  7. After step 5, the customer message is announced to the ticket's
//     agents (notify.go: its assignee, or its queue's agents), each with its
//     own reply address, unless the mail came in silently or was marked as
//     spam; each copy is recorded in Ticket.Notified. A customer's reply to
//     a closed ticket reopens it within the queue's reopen_within, else
//     makes a new ticket that Follows the old one. A new ticket's DueAt is
//     sla.Due of its queue; RemindAndEscalate and SendDigests are the
//     scheduled service-level runs.
//
// Invariant: no agent action without that check, nothing an agent does
// reaches a ticket outside its queues, and a refused mail never reaches
// a customer.
//
// Invariant: the acknowledgement goes to the requester, the address the
// ticket's person was made from (From, else Sender, else Return-Path), and
// never to a Reply-To (RFC 3834 §4): a mail whose only address is a
// Reply-To becomes that address's ticket without acknowledgement. Its
// consent token names that person and is bound to that address
// (consent.Signer.MailedTo). So the recipient of the link, the requester
// and the person whose consent it changes are one address. It repeats only
// the subject and display name of the mail (templates.EchoSubject,
// EchoName), never its body.
//
// # Mail from a local mail server (LMTP)
//
// LMTPServer (lmtp.go) is the [lmtp] listener, RFC 2033 over go-smtp's LMTP
// mode: a recipient that is none of ticketd's addresses (a [[mailbox]]
// address or a +subaddress of one, config.Config.LMTPMailbox) is refused at
// RCPT with 550 5.1.1; the mail of the accepted ones goes through the same
// steps as IngestFrom (parse and minimise outside any transaction, dedup,
// quarantine with the reason, threading, routing, acknowledgement), with
// channel "lmtp" and the [lmtp] mailbox (or the recipient's, with "*") in
// the origin, once for each mailbox its recipients count as. Each
// recipient is answered 250 only after the mail's commit; a malformed mail
// is a quarantine record and answered 250 too (never bounced). A failed
// commit, a closed store, a commit slower than lmtp.timeout or a stop is
// 451 (452 when the disk is full): the mail server keeps the mail and
// tries again, and a retry of a mail that did commit is a duplicate. One
// committer goroutine writes the mails waiting from all sessions in one
// transaction (up to 256 mails or 32 MiB); when that fails, each is
// written alone, so that one bad mail is the only one refused. Sessions
// are limited in number (max_connections; one more is answered 421), in
// recipients, in line length (2000 bytes) and in the time each read and
// write may take.
//
// # Quarantine
//
// ShowQuarantine shows a record with the header of its stored raw copy
// (parsed leniently) and where the copy is. RetryQuarantine parses the copy
// again through the same store path as fetched mail (same origin, dedup):
// a mail that now parses becomes a ticket message and its record goes in
// the same transaction; one that does not keeps its record with the new
// reason. DeleteQuarantine removes record and copy and scrubs the free
// pages. Audit events "quarantine.retried", "quarantine.updated",
// "quarantine.deleted" (actor "admin").
//
// # The admin's operations
//
// Every operation of the command line is one method of *Desk, the same
// whether the daemon runs it for its admin socket or a command runs it on
// the database file (Open, with Options.MustExist for the commands that
// create nothing): ListTickets, ShowTicket, CloseTicket, ReopenTicket,
// AddHold, ReleaseHold, Holds, Purge, ListQuarantine, ShowQuarantine,
// RetryQuarantine, DeleteQuarantine, ListOutbox, RetryOutbox, IngestFrom,
// ConsentHistory, Status, Backup, VerifyAudit, the data-subject rights
// below, RecordOf, and Restore (a function: it needs the store closed).
// The rules are here, not in the command line: a purge that changes data
// never runs for a time in the future; a ticket is held while one of its
// holds is in force (TicketSummary.Held, store.Ticket.HeldUntil). Each
// failure has a Kind (KindOf: not found, bad request, unavailable,
// temporary, other), which decides the command's exit code wherever the
// operation ran. The audit actor of each is "admin".
//
// ListTickets takes ListOptions (queue, overdue, assignee; they combine)
// and returns one page (TicketPage) of Limit tickets (DefaultPageSize, 50)
// numbered above After, oldest first; Next is the After of the next page.
// A page reads only its tickets, through the store's ticket indexes (by
// queue, assignee, open status): the cost of the first page does not grow
// with the store. A summary's Overdue is computed at the store's clock:
// open, not answered, due time passed. SendDigests reads the open tickets
// only, RemindAndEscalate the due ones (the plan index), Record the
// tickets with copies at agents. ShowTicket adds each message's direction, agent and
// commands and the ticket's Notified list (the copies mailed to agents).
//
// # Metrics
//
// Desk.Metrics (package metrics) counts what each mail became after its
// commit, never before (metrics.go: counted, from batch.Committed, Ingest,
// the LMTP committer and RetryQuarantine): tickets created per queue,
// quarantine records per reason class (reasonClass; the reason itself may
// quote the mail), duplicates, agents' replies (relayed, note, refused),
// and each mail's time from the start of its parsing to its commit; a
// purge that ran (scheduled, through Scheduler.Done, or Purge) and an
// erasure. Gauges reads, at a scrape, the outbox's pending mail and the
// open, due-soon and overdue tickets per configured queue from the open
// index, never the closed tickets.
//
// # Service levels on a schedule
//
// ServiceScheduler (schedule.go, robfig/cron like retention.Scheduler) runs
// RemindAndEscalate on [agents] schedule and SendDigests on [agents]
// digest_schedule (none when it is "off"), at the store's clock; each run
// logs one line with what it sent (ticket numbers and counts, no personal
// data). Prepare checks a new configuration's schedules before it is put in
// force, so a bad one keeps the running ones; Stop waits for a run.
//
// # Data-subject rights (GDPR Art. 15-17, 20)
//
// Each right is one method of Desk, found by the person's address
// (unknown: ErrNotFound), run by the admin (audit actor "admin"):
//
//   - Export writes a ZIP: subject.json (SubjectExport: the person, every
//     ticket they wrote to with their own messages and the answers to them,
//     the places in other people's records that hold their address as
//     Mentions with the passage only (Art. 15(4)), the purposes, consent
//     history and links, the mail sent to them, the audit events about
//     them) and the attachments and sent mails as files. It finds the data
//     through the same finder as Erase, so whatever an erasure touches is
//     in the export. Event "subject.exported". The finder reads only the
//     person's records and those that name the address, by the store's
//     indexes (idx_person, idx_mention, idx_outbox_ticket), so its cost
//     does not grow with the store; the one walk left is over the
//     quarantine, which retention keeps small, reading each stored mail.
//   - Erase deletes the tickets the person opened, their messages elsewhere,
//     quarantined and outgoing mail with their address and the person record;
//     replaces the address in other people's tickets with "[erased]"; keeps
//     what an active hold covers; lists (or, with erase_imap_copies, deletes
//     through imap.DeleteCopies) the copies on the IMAP server; then
//     overwrites the free pages (store.Scrub). A dry run writes nothing and
//     returns the same ErasureReport. Event "subject.erased".
//   - Offboard marks the person offboarded and anonymises their unheld
//     tickets; the scheduled purge does the held ones when the hold ends.
//   - Rectify corrects name and address in the person record and in the
//     sender of their messages, except in held tickets.
//
// Invariants: a ticket under an active hold (Ticket.HeldUntil) is never
// changed by them; the work is done in batches of short write transactions
// (batchSize), so ingest goes on meanwhile; audit events hold identifiers only.
//
// # Record of processing (Art. 30(1))
//
// RecordOf builds the record of processing activities from the configuration
// in force: controller and DPO, one activity per purpose with its categories,
// recipients, processors, transfers and time limits for erasure, and the
// technical and organisational measures ticketd applies. It is written as
// Markdown or JSON.
package desk
