// Package consent issues and verifies the signed tokens in consent links,
// serves the consent page behind them, and records the decisions made
// there (GDPR Art. 7).
//
// # Tokens
//
// A token names one ticket, one person, the address it was mailed to and
// one purpose, and expires. It is
//
//	base64url(payload) "." base64url(HMAC-SHA256(key, "ticketd-consent-1" ‖ payload))
//
// with payload = version 2 ‖ token id (16 random bytes) ‖ ticket (8) ‖ person
// (8) ‖ expiry in Unix seconds (8) ‖ address tag (16) ‖ purpose (its bytes),
// where the address tag is HMAC-SHA256(key, "ticketd-consent-address-1" ‖
// the recipient's address, lower case), cut to 16 bytes: it binds the
// address without revealing it. The key is 32 random bytes generated on
// first start and kept in the data directory (consent.key, mode 0600);
// without it no token can be forged or altered. A key file that group or
// others can read or change, that belongs to another user, or that is not a
// regular file is refused at start, not tightened: whoever read it can forge
// links, so the admin either removes it (a new key is made; links already
// sent stop working) or, sure that no one read it, makes it mode 0600.
// Verify checks the signature
// in constant time before it reads any field, and answers every bad token
// with one of three errors that say nothing about whether the ticket or
// person exists. Version 1 tokens (the same without the address tag, issued
// before tokens were bound) still verify; see the page for when they work.
//
// # Whom a link acts for
//
// A link acts only for the person it names, only while that person is the
// ticket's requester, and only while the person's address is the one the
// link was mailed to (MailedTo): a rectified address ends every earlier
// link, an erased person's link finds nobody, and a link mailed to any
// other address never acts for the person. A version 1 link works only
// while the acknowledgement that carried it is in the outbox with the
// person's address as its only recipient. Every other link gets the 404.
//
// # The page
//
// Handler serves GET and POST /consent/{token}. GET only reads: mail
// security scanners open every link in a mail. It shows, in the ticket's
// language (?lang=de|en switches), the controller, the ticket's own purpose
// and every purpose based on consent that no queue names, each with its
// legal basis, retention, recipients, transfers, full notice (Art. 13) and
// the customer's latest decision; a purpose based on consent has a grant
// or, once granted, a withdraw button, the same kind of button on the same
// page (Art. 7(3)); legitimate interest has an objection button (Art. 21);
// contract and legal obligation explain their basis.
//
// A button posts purpose, decision, language and an anti-forgery value: an
// HMAC (key derived from the consent key) over the token id, the purpose,
// the decision, the language, the hash of the notice shown, the person's
// consent version for the purpose and the render time. It is stateless (no
// cookie), expires after FormValidity, and is stale as soon as any decision
// about the purpose was recorded or the notice changed, so the same form
// submitted twice records once. The check and the record are one store
// transaction. A POST whose Sec-Fetch-Site is cross-site or same-site, or
// whose Origin is neither the request's host nor public_url's, is refused.
// After a decision the page answers 303 See Other to itself with the
// record's number, and shows what was recorded and when; a reload sends
// nothing.
//
// A malformed, forged, expired or unknown token, or one whose ticket or
// person is gone or that acts for no one (above), gets the same 404 page
// with the same headers, after the same work (one HMAC, four store lookups
// and one address tag). Every request takes a token
// from its client address's bucket (consent.rate_limit per minute, an IPv6
// client by its /64); the buckets live in memory, at most 10000, the least
// recently seen forgotten first. The address is the connection's, or behind
// a proxy in server.trusted_proxies the one X-Forwarded-For names (see
// config.Server.ClientAddr). Every answer carries a
// Content-Security-Policy that allows inline styles only, no referrer, no
// caching and no sniffing.
//
// # Records
//
// Record is the one place a decision is stored: appended to the person's
// history with its channel, token id, ticket and notice hash, never
// overwriting one (Art. 7(1)); the person's tickets with the purpose are
// planned anew, so the grace-period sweep sees it; a grant lifts a
// restriction their own tickets got for missing consent, and an objection
// marks their own tickets objected. Each change is an audit event with the
// actor store.ActorCustomer (the page) or the caller's.
package consent
