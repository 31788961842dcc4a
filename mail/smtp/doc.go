// Package smtp sends mail: it composes the automatic reply, submits to the
// relay and drains the store's outbox.
//
// Compose renders an automatic reply (RFC 3834: Auto-Submitted:
// auto-replied, X-Auto-Response-Suppress: All, mime.LoopHeader with the
// instance id); the same input gives the same bytes. Sender submits to the
// relay over one reused connection, RSETs after a failed transaction, sends
// a password only over TLS or to loopback (an OAuth2 access token, with
// smtp.auth = "oauth2", the same way: AUTH OAUTHBEARER or XOAUTH2, one
// refresh and retry on a refused token, every such failure temporary so the
// outbox keeps the mail), and types every error as a
// *SendError (temporary or permanent). Outbox drains the store's outbox
// through a Submitter, retrying temporary failures with exponential backoff
// (with jitter) until the item's give-up time; each outcome goes to the
// store with an audit event.
package smtp
