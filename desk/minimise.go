package desk

import (
	"maps"
	"net/textproto"
	"slices"

	"ticketd/config"
	"ticketd/mail/mime"
	"ticketd/mail/redact"
	"ticketd/store"
)

// Minimisation (GDPR Art. 5(1)(c), 25): what of a mail reaches the store.
//
// Before any transaction (in parseOne, for every mail: a customer's and an
// agent's alike) the redactor of the configuration in force replaces card
// numbers, IBANs and the [[redact]] patterns in the subject, the text, the
// HTML and (mime.ParseOptions.RedactText) the text attachments; the
// counts by kind go to Message.Redacted. The HTML is redacted as written
// and then rendered as text and checked again: where the markup still
// hides a value (a card number split by tags or entities), the HTML is not
// stored and a warning says so; the text stays. An agent's answer is
// stored and relayed as the redacted text: the customer gets what the
// ticket holds, and payment data never goes out by mail either.
//
// Of the header a stored message keeps From, To, Cc, Reply-To, Date,
// Subject, Message-ID, In-Reply-To, References, Content-Language,
// Auto-Submitted and the verdict of the trusted Authentication-Results
// field (AuthResult, method=result pairs only), plus the fields [minimise]
// keep_headers names (Message.Headers, redacted like the text). The raw
// mail is stored only with keep_original (Message.Original), as it came:
// before redaction.

// redactHTMLDropped is the warning of a message whose HTML was not stored.
const redactHTMLDropped = "HTML body not stored: it holds payment data that could not be removed from its markup (the text is stored, redacted)"

// parseOptions are the mime.ParseOptions of rt for one mail, whose
// text attachments' redactions go to counts.
func (rt *setup) parseOptions(counts redact.Counts) mime.ParseOptions {
	return mime.ParseOptions{KeepHeaders: rt.keepHeaders, Attachments: rt.attachments, RedactText: rt.redactor.Func(counts)}
}

// headersToParse are the header fields the loop, spam and routing rules
// read (not stored) and those keep_headers adds (stored).
func headersToParse(cfg *config.Config) []string {
	return slices.Concat(keepHeaders, cfg.Minimise.KeepHeaders)
}

// minimise redacts the parsed mail of it in place and records what it
// replaced (with what the attachments' hook counted in counts) in
// it.redacted; with keep_original it stores the raw mail in blobs.
func (d *Desk) minimise(rt *setup, it *parsed, counts redact.Counts, blobs *store.BlobWriter) error {
	m := it.msg
	r := rt.redactor
	var c redact.Counts
	m.Subject, c = r.Text(m.Subject)
	counts.Add(c)
	text, ct := r.Text(m.Text)
	m.Text = text
	if m.HTML != "" {
		html, ch := r.Text(m.HTML)
		if _, left := r.Text(mime.HTMLText(html)); len(left) > 0 {
			html = ""
			m.Warnings = append(m.Warnings, redactHTMLDropped)
			ch.Add(left)
		}
		m.HTML = html
		// The HTML and the text are the same message twice: count the
		// more of each kind.
		for k, n := range ch {
			if n > ct[k] {
				if ct == nil {
					ct = redact.Counts{}
				}
				ct[k] = n
			}
		}
	}
	counts.Add(ct)
	// The kept fields are redacted copies: the loop and spam rules read
	// the fields as they came.
	for _, h := range rt.cfg.Minimise.KeepHeaders {
		k := textproto.CanonicalMIMEHeaderKey(h)
		if _, dup := it.headers[k]; dup {
			continue // listed twice
		}
		for _, v := range m.Headers[k] {
			if it.headers == nil {
				it.headers = map[string][]string{}
			}
			v, c = r.Text(v)
			counts.Add(c)
			it.headers[k] = append(it.headers[k], v)
		}
	}
	if len(counts) > 0 {
		it.redacted = map[string]int(counts)
	}
	if rt.cfg.Minimise.KeepOriginal && it.f.Hash != "" {
		f, err := it.f.Open()
		if err != nil {
			return err
		}
		defer f.Close()
		sum, n, err := blobs.Put(f)
		if err != nil {
			return err
		}
		it.original = &store.Attachment{Filename: "original.eml", ContentType: "message/rfc822", Size: n, SHA256: sum}
	}
	return nil
}

// minimal fills in what sm keeps of the header of it besides the fields
// every message has, and the redaction counts.
func minimal(rt *setup, it *parsed, sm *store.Message) {
	m := it.msg
	sm.ReplyTo = storedList(m.ReplyTo)
	if len(sm.ReplyTo) == 0 {
		sm.ReplyTo = nil
	}
	sm.AutoSubmitted = m.AutoSubmitted
	sm.AuthResult = mime.AuthSummary(m.Headers["Authentication-Results"], trustedAuthserv(rt.cfg))
	if len(it.headers) > 0 {
		sm.Headers = it.headers
	}
	if len(it.redacted) > 0 {
		sm.Redacted = maps.Clone(it.redacted)
	}
	sm.Original = it.original
}

// trustedAuthserv are the authserv-ids whose Authentication-Results are
// believed: those of [spam] and of [agents].
func trustedAuthserv(cfg *config.Config) []string {
	return slices.Concat(cfg.Spam.AuthservIDs, cfg.Agents.AuthservIDs)
}

// redactedKinds are the kinds of a message's redactions, sorted.
func redactedKinds(counts map[string]int) []string {
	return slices.Sorted(maps.Keys(counts))
}
