// Package desk is the ticket workflow: it ties mail, store, templates and
// consent together, turning fetched mail into tickets and acknowledgements.
//
// # One mail, step by step
//
//  1. Parse (mail.Parse). A mail that cannot be parsed, is over the size limit,
//     has no sender address, or makes the parser fail becomes a quarantine
//     record with its reason and its raw content; it never blocks the mailbox.
//  2. Dedup: mailbox + Message-ID + SHA-256 of the raw mail. A mail stored
//     before (a crash between commit and after_import, a UIDVALIDITY rescan, a
//     file imported twice) is skipped. The same mail in two mailboxes makes two
//     tickets.
//  3. Thread: In-Reply-To, then References (newest first), against the stored
//     Message-IDs; then a subject tag "[#N]", which only counts when the sender
//     already wrote to ticket N (a guessed number must not attach mail to a
//     stranger's ticket). An empty Message-ID never matches.
//  4. Store the person, the ticket (new) and the message, with the origin
//     (channel, mailbox, Message-ID, UID, INTERNALDATE, stored at), in the
//     same transaction as the rest of the batch and the mailbox checkpoint.
//     A new ticket gets the legal holds whose rule picks it, and the retention
//     planner that New installs in the store plans its purge.
//  5. A new ticket is acknowledged in that same transaction: the
//     acknowledgement (with the transparency notice and a recorded consent
//     token) goes into the outbox, or its suppression is recorded on the
//     ticket with the reason: old mail (below the mailbox's first UIDNEXT),
//     mail.AutoReplyPolicy's loop rules, the per-address rate limit, or
//     acknowledgements disabled. Wake tells the outbox after the commit.
package desk
