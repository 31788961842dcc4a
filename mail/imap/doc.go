// Package imap keeps support mailboxes imported: one Supervisor per
// configured mailbox, the mailbox checkpoint, the after_import actions, and
// DeleteCopies for an erased person's mail on the server.
//
// # The Supervisor
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
//     batches, streaming each mail to memory or, when large, to a spool file
//     (mail.Fetched);
//  4. hands each batch to the Deliverer (see below), and only after the
//     commit flags or moves the mail. The stages overlap: while batch n is
//     written and committed, batch n+1 is prepared (parsed) and batch n+2
//     fetched; batches commit in order. batch_size is the most mails of a
//     batch: a catch-up starts with 16 (batchsize.go), and each batch is
//     at most twice the one before and about 8 MB and 500 ms of preparing
//     and writing, by the mail size and time per mail of the batch before;
//     a batch holds at most 32 MiB in memory, the rest is spooled;
//  5. waits with IDLE (re-issued every IdleRestart, with a NOOP as liveness
//     probe), or polls with NOOP every poll_interval.
//
// Every command has a bounded wait (the library has none while waiting for a
// reply): on timeout the socket is closed and the session starts over with
// exponential backoff and jitter. A fetch is bounded by a watchdog on progress,
// so a 50 MB mail takes as long as it needs. A batch whose fetch fails is
// retried one mail at a time; a single mail whose fetch fails three times is
// handed on as failed (mail.Fetched.Failed), so no mail blocks the mailbox.
// A mail announced with RFC822.SIZE > 0 but sent with an empty body is such a
// failure (*EmptyBodyError, logged at WARN with its UID), never an empty
// mail: the batch is not committed past it, and it is handed on as failed
// with that reason only after the three tries. Status counts the retried and
// the empty fetches.
//
// A login the server refuses is a *LoginError: logged at ERROR with the
// mailbox and the response code (AUTHENTICATIONFAILED, ...; never the
// password), retried with the same backoff, and shown in Status
// (AuthFailures, LastError "authentication failed ...") until a login
// succeeds. The backoff waits on Supervisor.After, the injected clock.
// Status.Reconnects counts the sessions started again after one ended (the
// ticketd_imap_reconnects_total metric).
//
// A mailbox with auth = "oauth2" logs in with AUTHENTICATE OAUTHBEARER or
// XOAUTH2 and an access token of Supervisor.Tokens (package mail/oauth). A
// token the server refuses gets one refresh and one retry, then the login
// is a *LoginError whose text names the SASL status; a grant the token
// endpoint refuses for good (*oauth.Error, Permanent) counts as a refused
// login too, logged with its error code (invalid_grant, ...). A session
// the server ends when its token expires is reconnected like any other, with
// a fresh token. CheckLogin logs in once, for `ticketd oauth test`.
//
// # The checkpoint has one owner
//
// Only this package writes the mailbox checkpoint (store.Checkpoint: last
// UID, UIDVALIDITY, the pending after_import actions). For each batch the
// Supervisor calls Deliverer.Prepare outside any transaction (parsing,
// attachment contents), then opens one store transaction, calls the
// Prepared's Write in it and records the checkpoint moved past the batch in
// that same transaction: a batch and its checkpoint commit together or not
// at all, and a crash before the commit fetches the batch again. Write
// returns one Result per mail; a mail whose Result says Quarantined goes to
// quarantine_folder (when set) instead of getting the after_import action.
// Which mail is quarantined is decided by the Deliverer alone and flows back
// only through these results.
//
// # Deleting copies
//
// DeleteCopies removes an erased person's mail from the IMAP folders it was
// imported from (subject erase with erase_imap_copies): it searches each
// folder by Message-ID, checks the header of each hit (SEARCH matches
// substrings), flags the exact matches \Deleted and expunges them, with UID
// EXPUNGE where the server offers UIDPLUS.
package imap
