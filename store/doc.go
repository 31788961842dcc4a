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
// Buckets of ticketd.db (keys are big-endian uint64 unless said otherwise,
// values JSON):
//
//	meta          "schema" -> version; "audit_head" -> hash of the last audit event;
//	              "instance" -> this installation's random id
//	tickets       number -> Ticket
//	messages      id -> Message
//	people        id -> Person
//	quarantine    id -> Quarantine
//	audit         seq -> AuditEvent
//	sync          mailbox name -> Checkpoint
//	idx_email     lower-case address -> person id
//	idx_msgid     Message-ID -> ticket number (first ticket that stored it)
//	idx_dedup     mailbox NUL Message-ID NUL content hash -> message id
//	idx_qdedup    mailbox NUL content hash (or size and date of an unread mail) -> quarantine id
//	idx_ticket    ticket number ‖ message id -> nil (messages of a ticket, in order)
//	blobs         hex SHA-256 -> content, for contents up to 64 KiB
//	outbox        id -> OutboxItem (mail to send, with its raw message and state)
//	idx_outbox_due  next attempt (Unix ns) ‖ outbox id -> nil, pending items only
//	ack_rate      lower-case address -> times of recent acknowledgements (rate limit)
//	consent_tokens  token id -> ConsentToken (issued consent links)
//
// # Invariants
//
//   - Every write goes through a typed method of Tx, and each one appends an
//     audit event in the same transaction. Audit events hold identifiers only,
//     never names, addresses or text (GDPR Art. 5(1)(c)), and each carries the
//     SHA-256 of the one before (tamper evidence; VerifyAudit walks the chain).
//   - One fetched batch of mail is one Update: tickets, messages, people,
//     quarantine records, audit events and the mailbox checkpoint commit together.
//   - A blob file is fsynced (with its directory) when it is written, before the
//     transaction that references it commits, so a committed message never points
//     at a lost file. Small blobs are written in that transaction itself.
//   - A Message-ID that is empty never enters idx_msgid, so it never threads.
//   - Time comes from Options.Now, never from time.Now in logic.
package store
