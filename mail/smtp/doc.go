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
// (with jitter) until the item's give-up time. A relay that cannot be
// reached or refuses the session (SendError.Connect) holds back the whole
// outbox for a backoff of its own (10s doubling to 5m), so an outage costs
// one connection per backoff, not one per due mail. Each outcome goes to the
// store with an audit event, and, once stored, to Outbox.Metrics (sent,
// failed or deferred by kind, and an acknowledgement's latency from its
// ticket's commit to the relay's acceptance).
package smtp
