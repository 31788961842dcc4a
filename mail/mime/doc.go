// Package mime parses mail (Parse) and classifies a parsed mail: the
// automatic-reply rules (AutoReplyPolicy), the verdicts of an upstream
// spam filter (SpamPolicy) and the sender authentication the own mail
// server recorded (SenderAuthentication).
//
// # Parsing
//
// Parse decodes one mail with go-message and every charset it knows: RFC 2047
// and RFC 2231 headers and file names, the text and HTML alternatives (text
// derived from HTML when there is no text part), and attachments streamed to a
// BlobSink. A mail that cannot become a ticket is a *ParseError, which the
// caller quarantines with its reason. Addresses are store.Address, the one
// address type the packages share.
//
// # Attachments
//
// ParseOptions.Attachments (an AttachmentPolicy, attach.go and policy.go)
// limits what reaches the BlobSink: the type of a part is sniffed from its
// first SniffBytes of decoded content (github.com/gabriel-vasile/mimetype),
// never taken from its file name or declared Content-Type; refused types
// and parts over MaxSize or MaxTotal become a Dropped of the result, with
// the reason. A part over a limit is streamed until the limit and then
// aborted (the sink stores nothing when its reader fails), and read on only
// to count its size. An attached mail (message/rfc822) is parsed as it
// streams, with the same policy, and dropped when one of its own parts is.
// ParseOptions.RedactText rewrites the decoded UTF-8 text of every text/*
// part before it is stored: whole up to 256 KiB, and a longer part as it
// streams, in pieces of at most 256 KiB that end at line breaks (the IBAN
// and card patterns never span one; a configured rule is matched within
// the lines of a piece). A part with a line longer than that is dropped,
// never stored unredacted, so a text attachment of any size costs only the
// window in memory.
//
// The files follow the jobs of the parser: parse.go walks the MIME tree and
// elects the bodies, charset.go finds and decodes charsets, encoding.go the
// transfer encodings, params.go the MIME parameters and file names,
// header.go the top-level fields and encoded words, attach.go and
// policy.go the attachment policy, address.go, msgid.go
// and date.go the structured fields, html.go renders HTML as text.
//
// # One scanner of structured fields
//
// scan.go holds the one scanner of RFC 5322 structured fields (quoted
// strings, quoted pairs, nested comments, domain literals). Address lists,
// message ids, dates, MIME parameters, the loop fields (Auto-Submitted,
// Return-Path, ...) and Authentication-Results are all cut with it, so a
// quoted string or a comment means the same in each of them. Address lists,
// message ids and dates accept the obsolete syntax of section 4: groups
// (store.Address.Group; an empty group gives no address), comments
// anywhere, routes, a phrase with dots, CFWS around the dots of an
// addr-spec, two-digit years (00-49 are 20xx) and the named zones of
// section 4.3. The examples of Appendix A are golden tests (CORPUS.md). A
// text part in an unknown transfer encoding, or prose labelled
// message/delivery-status, is the text when nothing better is found. A NUL
// in a header, or the 0x80 an IMAP server sends in its place, becomes
// U+FFFD.
//
// # Classifying a parsed mail
//
// AutoReplyPolicy says why a mail must get no automatic reply (RFC 3834:
// automatic, list, bulk, bounce, no-reply or our own mail; LoopHeader marks
// ticketd's own). SpamPolicy reads the verdict of an upstream spam filter
// (X-Spam-Flag, X-Spam-Status, rspamd's fields, a DMARC failure under
// policy reject or quarantine in Authentication-Results) from the header
// kinds it is told to trust, of each only the topmost field (the one the
// own filter added), of Authentication-Results only those with an own
// authserv-id (RFC 8601 §5); its reasons quote nothing from the mail.
// SenderAuthentication (authres.go) reads the same fields for the sender:
// whether the topmost one with a trusted authserv-id shows a DKIM, SPF or
// DMARC pass aligned with the From domain (RFC 7489 §3.1, relaxed, by the
// public suffix list), for the agent replies of package agent. It has its
// own reader of the field over the scanner, which keeps quoted strings
// whole, because emersion/go-msgauth's authres (v0.7.0) splits the field at
// every semicolon, comments included, and so fails on OpenDKIM's
// "(2048-bit key; unprotected)", and reads properties out of comments.
//
// They live here, not in a package of their own, because they read the
// header fields Parse keeps for them (KeepHeaders, SpamHeaders) with the
// parser's structured-field scanner: a package of their own would have to
// export that scanner or write a second one. They read a Message and
// nothing else, and decide nothing: the workflow acts on what they say.
package mime
