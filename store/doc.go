// Package store persists tickets, messages, people, quarantined mail, IMAP sync
// state and the audit trail in one bbolt file, owned by one process, and
// attachment contents as content-addressed files beside it.
//
// # Layout
//
// The data directory (mode 0700) holds:
//
//	ticketd.db          the bbolt file (mode 0600)
//	blobs/ab/abcdef…    contents over 64 KiB (attachments, quarantined mail), named by their SHA-256
//	blobs/tmp/          contents being written; removed on open
//
// Open makes the data directory and blobs/ mode 0700 and ticketd.db 0600;
// any of them found open to group or others is tightened to that, with a
// warning ("tightened permissions", the path, the old and the new mode).
//
// Buckets of ticketd.db (keys are big-endian uint64 unless said otherwise,
// values JSON):
//
//	meta          "schema" -> version; "audit_head" -> hash of the last audit event;
//	              "instance" -> this installation's random id; "idx_v2" -> the person,
//	              blob-reference and hashed dedup indexes are built; "x.<key>" -> small
//	              values of other packages (Meta, SetMeta), such as the fingerprint of
//	              the retention rules the plans were computed with
//	tickets       number -> Ticket
//	messages      id -> Message
//	people        id -> Person
//	quarantine    id -> Quarantine
//	audit         seq -> AuditEvent
//	sync          mailbox name -> Checkpoint
//	idx_email     lower-case address -> person id
//	idx_msgid     Message-ID -> ticket number (first ticket that stored it)
//	idx_dedup     SHA-256(mailbox, Message-ID, content hash) -> message id; 0 once the message was erased,
//	              so that erased mail still on the IMAP server is never imported again
//	idx_qdedup    mailbox NUL content hash (or size and date of an unread mail) -> quarantine id
//	idx_ticket    ticket number ‖ message id -> nil (messages of a ticket, in order)
//	blobs         hex SHA-256 -> content, for contents up to 64 KiB
//	outbox        id -> OutboxItem (mail to send, with its raw message and state)
//	idx_outbox_due  next attempt (Unix ns) ‖ outbox id -> nil, pending items only
//	ack_rate      lower-case address -> times of recent acknowledgements (rate limit)
//	consent_tokens  token id -> ConsentToken (issued consent links)
//	consents      person ‖ purpose NUL ‖ seq -> ConsentRecord (the history of decisions, never overwritten)
//	idx_plan      kind ('p' purge, 'c' consent) ‖ Unix seconds ‖ ticket number -> nil: when each
//	              ticket is next due, computed by the Planner on every ticket write
//	idx_person    person id ‖ ticket number -> nil (the tickets a person wrote to)
//	idx_blob_ref  hex SHA-256 ‖ 'm' or 'q' ‖ message or quarantine id -> nil (blob reference counts)
//
// # Invariants
//
//   - Every write goes through a typed method of Tx, and each one appends an
//     audit event in the same transaction. Audit events hold identifiers only,
//     never names, addresses or text (GDPR Art. 5(1)(c)), and each carries the
//     SHA-256 of the one before (tamper evidence; VerifyAudit walks the chain).
//     Each kind of event gets its fields in one constructor (events.go), with
//     an Actor and an Action of the named constants there; their values
//     are hashed with the event, so they never change. UpdateTicket,
//     UpdatePerson and PutMessage take the event of the change and refuse
//     one about another record.
//   - One fetched batch of mail is one Update: tickets, messages, people,
//     quarantine records, audit events and the mailbox checkpoint commit together.
//   - A blob file is fsynced (with its directory) when it is written, before the
//     transaction that references it commits, so a committed message never points
//     at a lost file. Small blobs are written in that transaction itself.
//   - A Message-ID that is empty never enters idx_msgid, so it never threads.
//   - Time comes from Options.Now, never from time.Now in logic.
//
// # Erased means gone
//
// GDPR Art. 17 asks that erased data be unrecoverable, from the file and its
// free pages as well. bbolt copies a page on write and puts the old one on its
// free list, where the old bytes stay until the page is reused. ticketd
// chooses overwriting over encryption: after every erasure or purge, Scrub
// waits until no transaction is open and writes zeros over every free page
// (the pause is measured by the retention benchmark), and a blob file that
// loses its last reference is overwritten with zeros before it is removed.
// Backups (Backup, and BackupArchive, which adds the key files and the blob
// files the copy references, restored by Restore) are compacted copies that
// hold live records only, so a backup made after an erasure does not hold
// the erased data.
//
// Per-person encryption keys (crypto-shredding) would also reach backups
// made before the erasure, but only if the keys are kept apart from the
// file and from its backups: a key deleted in bbolt lingers in a free page
// just like the data, and a key store copied with each backup shreds
// nothing. The operational cost of a separate key store (its own backup,
// loss means loss of all data) is not worth it for ticketd's single-file
// design; backups taken before an erasure must therefore expire on their own
// schedule, which README.md states.
package store
