// Package store persists tickets, messages, people, quarantined mail, IMAP sync
// state and the audit trail in one bbolt file, owned by one process, and
// attachment contents as content-addressed files beside it.
//
// # Layout
//
// The data directory (mode 0700) holds:
//
//	ticketd.db          the bbolt file (mode 0600)
//	keys.db             the key file of an encrypted store (its own bbolt file, mode 0600; Options.KeyFile)
//	blobs/ab/abcdef…    contents over 64 KiB (attachments, quarantined mail), named by their SHA-256
//	                    (by a keyed hash of it in an encrypted store)
//	blobs/tmp/          contents being written; removed on open
//
// The master key (Options.MasterKeyFile, 32 random bytes, mode 0600) lives
// outside the data directory; see "Encryption at rest" below.
//
// Open makes the data directory and blobs/ mode 0700 and ticketd.db 0600;
// any of them found open to group or others is tightened to that, with a
// warning ("tightened permissions", the path, the old and the new mode).
//
// Buckets of ticketd.db (keys are big-endian uint64 unless said otherwise,
// values JSON; in an encrypted store the values of people, tickets,
// messages, quarantine, outbox, consent_tokens and consents are sealed, and
// the keys of idx_email, ack_rate, idx_msgid, idx_dedup and idx_qdedup are
// HMAC-SHA256 under s.lookup, 16 bytes, instead of what is said here):
//
//	meta          "schema" -> version (1 plaintext, 2 encrypted); "audit_head" -> hash of the last audit event;
//	              "instance" -> this installation's random id; "idx_v2" -> the person,
//	              blob-reference and hashed dedup indexes are built; "idx_v3" -> the ticket
//	              indexes and idx_mention are built (Open builds them, once, for a store
//	              written before them, in batches of one transaction each, and again after
//	              encrypting one); "idx_v4" -> idx_audit is built (likewise); "idx_v5" ->
//	              idx_outbox_failed is built (likewise);
//	              "idx_v3.build", "idx_v4.build", "idx_v5.build" -> where such a build stands (its step
//	              and the last key done), so that one cut short goes on at the next
//	              Open; "x.<key>" -> small
//	              values of other packages (Meta, SetMeta), such as the fingerprint of
//	              the retention rules the plans were computed with; "scrub_due" -> a
//	              purge erased data that no Scrub has overwritten yet (MarkScrubDue)
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
//	blobs         blob name -> content, for contents up to 64 KiB
//	outbox        id -> OutboxItem (mail to send, with its raw message and state)
//	idx_outbox_due  next attempt (Unix ns) ‖ outbox id -> nil, pending items only
//	ack_rate      lower-case address -> times of recent acknowledgements (rate limit)
//	consent_tokens  token id -> ConsentToken (issued consent links)
//	consents      person ‖ purpose NUL ‖ seq -> ConsentRecord (the history of decisions, never overwritten)
//	idx_plan      kind ('p' purge, 'c' consent) ‖ Unix seconds ‖ ticket number -> nil: when each
//	              ticket is next due, computed by the Planner on every ticket write
//	idx_person    person id ‖ ticket number -> nil (the tickets a person wrote to)
//	idx_blob_ref  blob name ‖ 'm' or 'q' ‖ message or quarantine id -> nil (blob reference counts)
//	agents        agent numbers and addresses (staff addresses, in the configuration anyway: kept in clear)
//	shred         key id -> nil: keys of erased records still to delete from the key file
//	idx_consent_tok  person ‖ token id -> nil (a person's consent links, deleted with the person)
//	idx_outbox_ticket  ticket ‖ outbox id -> nil (the mail about a ticket, deleted with its content)
//	idx_outbox_failed  outbox id -> nil: the mail that failed for good (CountOutbox counts
//	              the outbox by index keys, never decrypting an item)
//	idx_queue     lookup(queue) ‖ ticket number -> nil        (ticketidx.go: tickets list pages,
//	idx_assignee  lookup(agent address) ‖ ticket number -> nil  the digest and the record of
//	idx_open      ticket number -> nil: not closed, not anonymised  processing read only the
//	idx_notified  ticket number -> nil: data mailed to agents       tickets they show)
//	idx_mention   lookup(address) ‖ 'm' or 'o' ‖ message or outbox id -> nil: the messages and
//	              outgoing mail that hold an address (mentions.go: a person's export and
//	              erasure read only those)
//	idx_audit     'p' ‖ person ‖ seq, 't' ‖ ticket ‖ seq -> nil: the audit events about a
//	              person or a ticket (auditidx.go: the export reads only those)
//	lookup_drops  seq -> drop: lookup index entries (idx_email, ack_rate, idx_msgid,
//	              idx_dedup, idx_mention) of what a purge erased, to remove sorted by
//	              key at its end (lookupdrops.go; readers treat such an entry as absent)
//
// The lookup(x) of these indexes is the 16-byte HMAC of the lookup indexes
// (a SHA-256 prefix in a plaintext store); each is written in the
// transaction of its record and removed with it. DB.Decoded counts the
// records read, so that tests and benchmarks see that a page, a scheduled
// run or an export reads only what it reports; DB.Encoded the records
// written (encoded and sealed).
//
// A transaction that stores mail calls Tx.DeferTicketWrites (deferred.go):
// each ticket it writes is planned, encoded, sealed and indexed once, at
// its end, rather than at every write (a new ticket is written when made,
// with its message and with its acknowledgement); a read of the ticket in
// the transaction gets a copy as it would be stored, a read of the ticket
// indexes stores it first, so the transaction sees its own writes, and a
// failure to store it fails the transaction.
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
// # Encryption at rest
//
// With Options.MasterKeyFile set (production always sets it) the store is
// encrypted. Every value of people, tickets, messages, quarantine, outbox,
// consent_tokens and consents is sealed:
//
//	0x01 ‖ len(key id) ‖ key id ‖ nonce (12) ‖ AES-256-GCM(JSON)
//
// with bucket name ‖ 0 ‖ record key as additional data, so that a value
// moved to another record or bucket does not open (corruption, reported,
// never skipped). The key a record is sealed under is an invariant:
//
//   - a Person, its ConsentTokens and ConsentRecords: the person's key p‖id;
//   - a Ticket: its requester's key, or s.system once AnonymizedAt is set
//     (nothing personal is left in it) or when it has no requester;
//   - a Message from a customer (DirectionIn with a PersonID): its sender's
//     key; an agent's message (no PersonID): its ticket's key;
//   - an OutboxItem: its ticket's key (s.system for mail about no ticket);
//   - a Quarantine record: its own key q‖id.
//
// Keys live in the key file keys.db, apart from the data file:
//
//	meta   "format", "check" (HMAC-SHA256(master, "ticketd key check"), which tells a
//	       wrong master key from a damaged file), "master" (the id of the master key)
//	keys   key id -> nonce ‖ AES-256-GCM(master, key), key id as additional data
//
// Key ids: p‖be64(person), q‖be64(quarantine record), and the system
// secrets s.system, s.lookup (the HMAC key of the lookup indexes) and
// s.blob. A person's or quarantine record's key is made in the transaction
// that creates the record and written to the key file (one key-file
// transaction) before that transaction commits; an orphan key of a
// transaction rolled back is used again when its id comes again. Unwrapped
// keys are cached in memory; a deleted key leaves the cache at once.
//
// Lookups (addresses, Message-IDs, content hashes, dedup keys) are by
// HMAC-SHA256 under s.lookup: no address, Message-ID or content hash is in
// the file in clear. Blobs are named HMAC-SHA256(name key, SHA-256 of the
// plaintext) and encrypted under a key derived from s.blob and that SHA-256
// (blobcrypt.go), so equal contents are stored once and a blob is readable
// only by who knows its plaintext's SHA-256, which only its sealed message
// or quarantine record holds. Callers still pass and receive the plaintext
// SHA-256 (Attachment.SHA256, Quarantine.Blob).
//
// The master key file is made (0600, O_EXCL, synced with its directory)
// only when the key file does not exist yet: a new store, or a plaintext
// store being encrypted. A key file without its master key refuses to
// open, naming the path (restore the master key; a new one would open
// nothing); a wrong one is ErrMasterKey; an encrypted store without its key
// file, or opened without MasterKeyFile, refuses too. Nothing is written on
// any refusal. RotateMasterKey writes <master>.new, re-wraps every key in
// one key-file transaction and renames <master>.new into place; Open
// completes a rotation interrupted before the rename. A person's key never
// changes, so a data backup of any age opens with the newest key snapshot
// (BackupKeys, RestoreKeys).
//
// A plaintext store (schema 1) opened with MasterKeyFile is encrypted in
// place on Open (migrate.go): blob files are written encrypted first, then
// one transaction seals every record and re-keys the indexes, then the
// plaintext files are shredded and the free pages scrubbed. Without
// MasterKeyFile a plaintext store stays one (tests, the "encryption off"
// benchmark).
//
// # Erased means gone
//
// GDPR Art. 17 asks that erased data be unrecoverable, from the file and its
// free pages as well, and from backups. bbolt copies a page on write and
// puts the old one on its free list, where the old bytes stay until the
// page is reused. After every erasure or purge, Scrub waits until no
// transaction is open and writes zeros over every free page (the pause is
// measured by the retention benchmark), and a blob file that loses its last
// reference is overwritten with zeros before it is removed. Backups
// (Backup, and BackupArchive, which adds the link-signing key files and
// the blob files the copy references, restored by Restore) are compacted
// copies that hold live records only.
//
// Backups made before an erasure are reached by crypto-shredding.
// DeletePerson and DeleteQuarantine, the only places those records go,
// put the record's key id into the shred bucket in the same transaction;
// after the commit the key is deleted from the key file, the key file's
// free pages are overwritten with zeros at once, and the shred entry is
// cleared (Open finishes any left by a crash). A purge, which erases many
// people in many transactions, defers this (Tx.DeferShreds) and calls
// FinishShreds once at the end: the keys go in steps of shredChunk, the
// key file is scrubbed once, then the entries are cleared, so that a crash
// at any point leaves them for Open. Likewise a purge defers the removal of
// the erased records' lookup index entries (Tx.DeferLookupDrops), which
// lie on random pages of each index, and FinishLookupDrops removes them
// sorted by key before the purge's shreds and scrub; until then every
// reader takes an entry whose record is gone (or whose ticket is
// anonymised) as absent, and Open finishes any a crash left. Backups never hold the key
// file; it is backed up by BackupKeys into snapshots that are to be kept
// only a short time. Once the last snapshot that held a person's key is
// gone, the person's records in every data backup ever made open with no
// key there is. A backup restored with a newer key snapshot reads those
// records as erased: a read returns an error that is both ErrNotFound and
// ErrShredded, walks skip them, and Shredded counts them. Open moves the
// people and quarantine sequences past the highest key id in the key file,
// so that a record made after such a restore never takes the key of a
// person the snapshot knows and the backup does not. A record that
// fails authentication with a key that is present is corruption: an error,
// never skipped. The whole lifecycle (erasure, purge, anonymisation,
// offboarding, quarantine deletion and retry) leaves no live record under
// a shredded key (TestLifecycleLeavesNoRecordUnderAShreddedKey).
//
// One limit, stated plainly: who holds a data backup, a key snapshot and
// the master key can confirm that a file they already have was stored (the
// blob secret and the file's SHA-256 give its name and key). Nothing
// about a content they do not have shows in a blob's name.
package store
