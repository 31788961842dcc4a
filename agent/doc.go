// Package agent makes and checks the reply addresses that let an agent
// answer a ticket from an ordinary mail client, and decides whether an
// incoming mail is such an agent's reply (DESIGN.md: no agent action
// without authentication).
//
// # The reply address
//
// An agent notification is to carry, as Reply-To, an address made from the
// mailbox's support address by Issue:
//
//	support+t123.a7.k5v3xq2m4nb7rw6a@example.com
//
// local part and domain of the support address (lower-cased), "+", the
// ticket number after "t", the agent's number after "a", and a signature:
// the first 80 bits of HMAC-SHA256, under the agent key, of a domain
// separation string, the support address, the ticket and the agent, in
// lower-case base32 (16 letters). Numbers are decimal without leading
// zeros, so each token has one spelling; Verify reads any case, because
// some MTAs lower-case local parts, and compares the signature in constant
// time. The local part must fit the 64 octets of RFC 5321 §4.5.3.1.1;
// Issue refuses a support address too long for that. The agent's number is
// the caller's: it must stay with one agent address and never be given to
// another, since VerifyAgentReply looks up the address the number has now. The "+" subaddress
// must reach the support mailbox (Postfix recipient_delimiter = +, the
// default of Dovecot's LMTP and of most hosted mail).
//
// # The key
//
// agent.key in the data directory: 32 random bytes, mode 0600, under
// config.ReadFile's secret rule, like consent.key. LoadKey makes it and is
// for a new store only; ReadKey, for an existing store, never makes one,
// since a new key would break every reply address already mailed. It is in
// every `ticketd backup` (which takes each *.key of the data directory).
//
// # The agent reply
//
// VerifyAgentReply says whether a mail is a reply of an agent on a ticket:
// its reply address is valid for that ticket and agent, its From is that
// agent's configured address, and where the own mail server added an
// Authentication-Results field with a trusted authserv-id (config [agents]
// authserv_ids) the topmost such field shows a DKIM, SPF or DMARC pass
// aligned with the From domain (mime.SenderAuthentication). A mail without
// a reply address is ErrNotToken; one with a reply address that fails a
// check is a *RefusedError naming the check, with a reason that quotes
// nothing from the mail.
//
// desk issues the reply addresses in its agent notifications and calls
// VerifyAgentReply for every incoming mail written to one; it checks that
// the ticket exists and that the agent may work its queue.
package agent
