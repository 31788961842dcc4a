// Package mail holds one mail as it came in, before it is parsed, and what
// the mail packages below it share. The work is split by job:
//
//	mail/imap      reading support mailboxes: the Supervisor, fetching, the
//	               mailbox checkpoint, after_import, deleting erased copies
//	mail/mime      the MIME parser and the rules that classify a parsed mail
//	               (automatic-reply loops, spam verdicts)
//	mail/smtp      mail out: composing the automatic reply, the SMTP
//	               sender, the outbox
//	mail/oauth     OAuth2 access tokens and the SASL mechanisms that carry
//	               them (OAUTHBEARER, XOAUTH2), for IMAP and SMTP logins
//	mail/mailtest  test servers (in-process IMAP and SMTP, Dovecot, Postfix)
//
// Imports point one way: mail/imap and mail/smtp use mail (and mail/smtp
// uses mail/mime for the loop header); mail/mime uses mail only for
// CutUTF8. None of them imports the workflow (desk).
//
// # Fetched
//
// A Fetched is the raw mail of one IMAP fetch (UID, RFC822.SIZE,
// INTERNALDATE) or of a file or pipe (ReadFetched, with the file's
// modification time). Read hashes it (hex SHA-256, the dedup key) and keeps
// it in memory up to InMemoryMax bytes, else in a spool file that Release
// removes. A mail over the size limit is not kept: Failed says why, Hash is
// empty, and the workflow quarantines it with that reason; it never blocks
// the mailbox.
//
// # Masked logs
//
// MaskEmail masks an address for a log line ("j***@e***.com"),
// MaskAddresses every address in a text, and MaskingHandler wraps the
// daemon's slog handler so that no address reaches the log in clear, in
// whatever attribute it comes (an SMTP server's error quotes the
// recipient). Log lines carry numbers, not content: no call site logs a
// subject, a body, a name, a token or a password.
//
// Shared by mail/imap and mail/smtp: TLSConfig (TLS 1.2 or later, an
// optional CA bundle, certificate checks off only with tls_verify = false,
// which config allows for a loopback host alone), Jitter (±20% on every
// backoff) and ErrStopped (what a loop's Run returns when its context is
// cancelled).
package mail
