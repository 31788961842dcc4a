// Package oauth logs mailboxes and the relay in with OAuth2 access tokens
// (RFC 6749) instead of passwords: Microsoft 365 and Google Workspace take
// nothing else.
//
// # Tokens
//
// A Source hands out the access token of one [mailbox.oauth] or
// [smtp.oauth] table (package config), fetched from the token endpoint with
// golang.org/x/oauth2: by client credentials (RFC 6749 §4.4, app-only) or by
// the refresh token in token_file (§6, delegated), which Login obtains once
// with the device authorization grant (RFC 8628). A token is reused until
// Margin before it expires, by the Source's clock; Refresh fetches a new one
// after a server refused the old. A refresh token the server rotates is
// written back to token_file atomically (a new file renamed over the old,
// mode 0600); the file holds the refresh token only, and is read again at
// every refresh, so that a new `ticketd oauth login` takes effect without a
// restart.
//
// # Errors
//
// The token endpoint's refusals (RFC 6749 §5.2) are *Error, with the reason
// an admin can act on: invalid_grant means the refresh token expired or
// consent was revoked, invalid_client and unauthorized_client a wrong
// client or tenant, invalid_scope a missing scope. A permanent refusal is
// remembered for HoldFailure (or until token_file changes), so a mailbox
// that reconnects asks the endpoint again only that often: no retry storm.
//
// # SASL
//
// NewClient is the SASL client of OAUTHBEARER (RFC 7628) or XOAUTH2 (the
// form of Microsoft and Google), which keeps the status of the server's
// error challenge (RFC 7628 §3.2.2) and answers it as the RFC says, so that
// the exchange ends with the server's NO or 535 instead of a broken
// connection.
//
// # Secrets
//
// No token, secret or refresh token is in any error, log line or status:
// errors carry the endpoint's error code and a cut, cleaned description,
// never a response body.
package oauth
