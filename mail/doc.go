// Package mail reads support mailboxes over IMAP and parses MIME mail.
//
// # IMAP ingestion (Supervisor)
//
// One Supervisor per configured mailbox connects (implicit TLS, STARTTLS or
// plain), logs in and selects the folder, then:
//
//  1. loads the checkpoint (UIDVALIDITY, last committed UID) from the store;
//     a changed UIDVALIDITY starts over from UID 1, and dedup in the store
//     keeps the rescan from importing anything twice. \Seen and dates are
//     never used to decide what is new: mail another client already read is
//     still imported.
//  2. re-applies after_import actions that were committed but not confirmed
//     (a crash between the commit and the flag or move);
//  3. catches up with UID SEARCH UID last+1:* (filtered to > last, RFC 3501
//     "*" semantics) and fetches UID RFC822.SIZE INTERNALDATE BODY.PEEK[] in
//     batches, streaming each mail to memory or, when large, to a spool file;
//  4. hands each batch to the Deliverer, which stores it and the new
//     checkpoint in one transaction, and only then flags or moves the mail;
//  5. waits with IDLE (re-issued every IdleRestart, with a NOOP as liveness
//     probe), or polls with NOOP every poll_interval.
//
// Every command has a bounded wait (the library has none while waiting for a
// reply): on timeout the socket is closed and the session starts over with
// exponential backoff and jitter. A fetch is bounded by a watchdog on progress,
// so a 50 MB mail takes as long as it needs. A batch whose fetch fails is
// retried one mail at a time; a single mail whose fetch fails three times is
// quarantined, so no mail blocks the mailbox. A mail announced with
// RFC822.SIZE > 0 but sent with an empty body is such a failure
// (*EmptyBodyError, logged at WARN with its UID), never an empty mail: the
// batch is not committed past it, and it is quarantined with that reason only
// after the three tries. Status counts the retried and the empty fetches.
//
// A login the server refuses is a *LoginError: logged at ERROR with the
// mailbox and the response code (AUTHENTICATIONFAILED, ...; never the
// password), retried with the same backoff, and shown in Status
// (AuthFailures, LastError "authentication failed ...") until a login
// succeeds. The backoff waits on Supervisor.After, the injected clock.
//
// # Parsing (Parse)
//
// Parse decodes one mail with go-message and every charset it knows: RFC 2047
// and RFC 2231 headers and file names, the text and HTML alternatives (text
// derived from HTML when there is no text part), and attachments streamed to a
// BlobSink. A mail that cannot become a ticket is a *ParseError, which the
// caller quarantines with its reason.
//
// Address lists, message ids and dates are read by one scanner of RFC 5322
// structured fields (quoted strings, quoted pairs, nested comments), with the
// obsolete syntax of section 4: groups (Address.Group; an empty group gives
// no address), comments anywhere, routes, a phrase with dots, CFWS around the
// dots of an addr-spec, two-digit years (00-49 are 20xx) and the named zones
// of section 4.3. The examples of Appendix A are golden tests (CORPUS.md).
// A text part in an unknown transfer encoding, or prose labelled
// message/delivery-status, is the text when nothing better is found. A NUL in
// a header, or the 0x80 an IMAP server sends in its place, becomes U+FFFD.
//
// # Mail out
//
// Compose renders an automatic reply (RFC 3834: Auto-Submitted: auto-replied,
// LoopHeader with the instance id). AutoReplyPolicy says why a mail must get
// no automatic reply (automatic, list, bulk, bounce, no-reply or our own
// mail). SpamPolicy reads the verdict of an upstream spam filter
// (X-Spam-Flag, X-Spam-Status, rspamd's fields, a DMARC failure under policy
// reject or quarantine in Authentication-Results) from the header kinds it
// is told to trust, of each only the topmost field (the one the own filter
// added), of Authentication-Results only those with an own authserv-id (RFC
// 8601 §5); its reasons quote nothing from the mail. Sender submits to the
// relay over one reused connection, RSETs after a failed transaction, sends
// a password only over TLS or to loopback, and types every error as a
// *SendError (temporary or permanent). Outbox drains the store's outbox
// through a Submitter, retrying temporary failures with exponential backoff
// until the item's give-up time.
//
// DeleteCopies removes an erased person's mail from the IMAP folders it was
// imported from (subject erase with erase_imap_copies): it searches each
// folder by Message-ID, checks the header of each hit (SEARCH matches
// substrings), flags the exact matches \Deleted and expunges them, with UID
// EXPUNGE where the server offers UIDPLUS.
package mail
