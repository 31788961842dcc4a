// Package templates owns the text of the acknowledgement that answers every
// new ticket, the transparency notice it carries (GDPR Art. 13), the
// consent page behind its link, and the mails ticketd sends to agents, in
// German and English.
//
// # Layout
//
// The built-in templates are embedded from builtin/, one file per part and
// language:
//
//	ack.de.txt.tmpl     ack.en.txt.tmpl      text/template, the text part
//	ack.de.html.tmpl    ack.en.html.tmpl     html/template, the HTML part
//	notice.de.txt.tmpl  notice.en.txt.tmpl   the notice, included by the text part
//	notice.de.html.tmpl notice.en.html.tmpl  the notice, included by the HTML part
//
// and the consent page (html/template, one set per language):
//
//	consent.de.html.tmpl       consent.en.html.tmpl        the page, executed with a *consent.Page
//	consent-error.de.html.tmpl consent-error.en.html.tmpl  its error pages, with a *consent.ErrorPage
//
// The consent templates have the functions duration and period (below) and
//
//	date t       a time in UTC: "23.11.2026 um 10:00 Uhr (UTC)", "23 November 2026 at 10:00 UTC" (Date)
//
// A file of the same name in the configured server.templates_dir replaces the
// built-in one. Inside a language's text or HTML set the files are named
// "ack" and "notice"; an ack template includes the notice with
// {{template "notice" .}}. Both are executed with an Ack (the customer's
// subject and name already reduced by EchoSubject and EchoName: one line,
// no control or format characters, at most 100 and 64 characters) and two
// functions:
//
//	duration d   a time.Duration in the set's language: "1 Tag und 12 Stunden" (Duration)
//	localdate t  a time in its own zone: "30.11.2026 um 11:00 Uhr (CET)" (LocalDate);
//	             an Ack's Due is set (in the zone of its queue's business hours)
//	             when the response time counts in business hours only
//	period p     a config.Period: "2 Jahre", "90 days" (Period)
//
// The text part is reflowed after rendering: a line longer than 72
// characters is word-wrapped, a list item ("- ") with a hanging indent, so
// text templates write each paragraph on one line. Trailing white space is
// removed and the text ends with one newline.
//
// The mails to agents are plain text (text/template), one set per language
// in which each file is a template of its role's name:
//
//	agent-notification.<lang>.txt.tmpl  a new ticket or customer message (Notification)
//	agent-refusal.<lang>.txt.tmpl       an agent's mail that was not relayed, and why (Refusal)
//	agent-hint.<lang>.txt.tmpl          an agent wrote without a ticket's reply address (Hint)
//	agent-show.<lang>.txt.tmpl          the whole ticket, for #show (Show)
//	agent-reminder.<lang>.txt.tmpl      due soon, to agents; overdue, to supervisors (Reminder)
//	agent-digest.<lang>.txt.tmpl        an agent's open, due-soon and overdue tickets (Digest)
//	agent-facts.<lang>.txt.tmpl         a ticket's facts, {{template "agent-facts" .Ticket}}, with an AgentTicket
//	agent-commands.<lang>.txt.tmpl      the command help, {{template "agent-commands" .}}
//
// They have the functions date, duration and period. Each is executed with
// the value its method of Set takes, cleaned first: the subject and names
// reduced like an acknowledgement's (addresses as "Name <addr>", the name
// quoted when it holds "@", "<" or the like), every other value of one line
// made one line without control or format characters. A text from mail
// (.Text of a Notification or ShownMessage) reaches the template as a
// placeholder of one word that is replaced after the reflow, so it is shown
// as it was written: not wrapped, not re-indented, only its control
// characters but the tab and the blank lines at its ends dropped. The text
// is reflowed like the acknowledgement's, and two blank lines or more the
// template's layout leaves become one. The subject lines are not templates:
// "[#N] " and the ticket's subject for a notification, #show and reminder
// (so that the agent's mail client threads them), "[#N] not sent: " and the
// first reason for a refusal, counts for a digest.
//
// # Invariants
//
//   - The notice names every item of GDPR Art. 13(1) and (2) from the config:
//     controller and the DPO's contact (where one is designated, Art.
//     13(1)(b); without one the entry is left out), purpose and legal basis
//     (with the legitimate interest, Art. 13(1)(d)), recipients,
//     third-country transfers or an explicit "none", retention and what
//     happens on expiry, the rights of Art. 15 to 18, 20 and 21 (the right to
//     object to this processing where the basis is legitimate interest, else
//     to processing based on legitimate interests), withdrawal of consent
//     (Art. 7(3), only when the basis is consent), the complaint to the supervisory authority
//     (Art. 77), whether the data is required, no automated decisions
//     (Art. 22), and every kind of data recorded beyond what the customer
//     wrote (sender, timestamps, channel and mailbox, attachments, threading
//     headers).
//   - What the acknowledgement says its link offers is what the page has: to
//     give or withdraw consent where the basis is consent, an objection
//     (Art. 21) where it is legitimate interest, neither for contract and
//     legal obligation.
//   - Rendered.Notice is the notice's text version byte for byte as it appears
//     in the text part, and Rendered.NoticeHash its SHA-256: stored with a
//     consent, it proves which notice the customer was shown (Art. 7(1)).
//     A template set whose ack does not include its notice, or leaves out the
//     consent link, is rejected.
//   - Everything from the config and from the mail is escaped in the HTML part
//     by html/template's contextual escaping; no value is ever marked as safe
//     HTML. The HTML loads nothing external: no images, fonts or style sheets,
//     inline styles only.
//   - Load renders every template against sample data covering each legal
//     basis and each branch of the built-in templates, so an override with a
//     misspelt field fails at `ticketd check`, not when a customer writes.
//   - Notice renders a purpose's notice and hash exactly as Ack does, so the
//     consent page records the hash of the notice the acknowledgement carried
//     while the configuration is unchanged. A notice override that uses more
//     than .Lang, .Controller, .Purpose, .Ticket and .Subject breaks that.
//   - Load renders the consent page against sample data too, and rejects an
//     override that leaves out a purpose's notice or a purpose's button (with
//     its purpose, lang and form fields) inside a POST form: withdrawing must
//     stay as easy as granting. The page loads nothing external and every
//     value is escaped by html/template.
//   - Load renders the agent mails against sample data taking every branch
//     of the built-in templates (each status, consent state and kind of
//     message, restricted, excerpt, attachments, unassigned, answered,
//     overdue, empty digest), and rejects an override that fails, or whose
//     notification, refusal with a ticket, hint, #show or reminder does not
//     end with the command help, that leaves out the customer's text (or
//     changes it), a refusal's reasons and hint, or, for a restricted
//     ticket, why processing is restricted. The error names the file, and
//     an overridden facts or command help template that may be at fault.
//   - A restricted ticket's notification and #show carry no text and no
//     attachment of the customer, whatever the template says (Art. 18):
//     the Set clears them before the template runs.
//   - A *Set is immutable after Load and safe for concurrent use.
package templates
