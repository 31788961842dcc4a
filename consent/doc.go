// Package consent issues and verifies the signed tokens in consent links.
//
// A token names one ticket, one person and one purpose, and expires. It is
//
//	base64url(payload) "." base64url(HMAC-SHA256(key, "ticketd-consent-1" ‖ payload))
//
// with payload = version 1 ‖ token id (16 random bytes) ‖ ticket (8) ‖ person
// (8) ‖ expiry in Unix seconds (8) ‖ purpose (its bytes). The key is 32
// random bytes generated on first start and kept in the data directory
// (consent.key, mode 0600); without it no token can be forged or altered.
// Verify checks the signature in constant time before it reads any field,
// and answers every bad token with one of three errors that say nothing about
// whether the ticket or person exists.
package consent
