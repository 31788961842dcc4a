package mime

import (
	netmail "net/mail"
	"net/textproto"
	"strings"
)

// LoopHeader is the header ticketd puts on every mail it sends; its value is the sending instance's id.
const LoopHeader = "X-Ticketd-Loop"

// AutoReplyPolicy decides whether a mail may get an automatic reply (RFC 3834).
type AutoReplyPolicy struct {
	OwnAddresses []string // every address ticketd sends from (the SMTP from, each mailbox address); compared case-insensitively
}

// KeepHeaders are the extra header fields Suppress needs (pass them in ParseOptions.KeepHeaders).
//
// Auto-Submitted, Precedence, Return-Path, List-Id and List-Unsubscribe have
// their own Message fields, but those hold only the first occurrence and
// cannot tell an empty field from a missing one; Suppress reads them from
// Message.Headers when they are there and falls back to the fields otherwise.
var KeepHeaders = []string{
	LoopHeader,
	"Auto-Submitted",
	"Precedence",
	"Return-Path",
	"List-Id",
	"List-Unsubscribe",
	"List-Post",
	"X-Failed-Recipients",
	"X-Auto-Response-Suppress",
	"X-MS-Exchange-Inbox-Rules-Loop",
	"X-Autoreply",
	"X-Autorespond",
}

// FromTicketd reports whether m came from ticketd itself: it carries
// LoopHeader or its From is one of OwnAddresses (rule 1 of Suppress
// without Reply-To). Such mail must start nothing that mails again, or
// ticketd and a forwarding mailbox would loop.
func (p *AutoReplyPolicy) FromTicketd(m *Message) bool {
	return m != nil && (hasHeader(m, LoopHeader) || p.own(m.From.Email))
}

// Suppress returns why m must not get an automatic reply, or "" when it may.
// The reason is a short fixed English phrase naming the rule and the header;
// it never contains text taken from the mail.
//
// The rules, in this order (the first that matches gives the reason, so the
// most specific one wins: a bounce says bounce, not empty Return-Path):
//
//  1. Loops with ticketd itself: LoopHeader present, with any value (this
//     instance or another ticketd); From equal to one of OwnAddresses; a
//     Reply-To equal to one of them (the acknowledgement would go to us).
//  2. Reports: Content-Type multipart/report (a delivery-status bounce, a
//     disposition-notification read receipt, a feedback-report, any
//     other); X-Failed-Recipients present (Exim bounces).
//  3. Mail system senders: the local part of From, Sender, Reply-To or
//     Return-Path is MAILER-DAEMON or postmaster (case-insensitive).
//  4. Auto-Submitted with a keyword other than "no" (RFC 3834 §5); comments
//     and parameters are ignored, an empty value counts as absent.
//  5. Vendor auto-reply markers: X-MS-Exchange-Inbox-Rules-Loop,
//     X-Autoreply or X-Autorespond present; X-Auto-Response-Suppress
//     naming All, AutoReply or OOF (the sender asks for no automatic reply).
//  6. X-Loop present (procmail, Zammad and other ticket systems).
//  7. Lists and bulk mail: List-Id present; Precedence bulk, junk, list or
//     auto_reply; List-Unsubscribe or List-Post present.
//  8. Return-Path present and empty or "<>" (a null envelope sender,
//     RFC 3834 §2). A mail without Return-Path (ingested from a file) is
//     not suppressed for that.
//  9. No-reply senders: From, Sender, Reply-To or Return-Path has a local
//     part that is a no-reply form, see isNoReply.
//
// Header fields that have no Message field of their own are read from
// m.Headers; a Message parsed without KeepHeaders is judged on its dedicated
// fields only.
func (p *AutoReplyPolicy) Suppress(m *Message) string {
	if m == nil {
		return "no message"
	}

	// 1. Ourselves.
	if hasHeader(m, LoopHeader) {
		return "sent by ticketd itself (" + LoopHeader + ")"
	}
	if p.own(m.From.Email) {
		return "from our own address"
	}
	for _, a := range m.ReplyTo {
		if p.own(a.Email) {
			return "reply address is our own (Reply-To)"
		}
	}

	// 2. Reports: bounces (RFC 3464), read receipts (RFC 8098), abuse reports (RFC 5965).
	if strings.EqualFold(m.ContentType, "multipart/report") {
		switch strings.ToLower(strings.TrimSpace(m.ReportType)) {
		case "delivery-status":
			return "bounce (multipart/report delivery-status)"
		case "disposition-notification":
			return "read receipt (multipart/report disposition-notification)"
		case "feedback-report":
			return "abuse report (multipart/report feedback-report)"
		default:
			return "report (multipart/report)"
		}
	}
	if hasHeader(m, "X-Failed-Recipients") {
		return "bounce (X-Failed-Recipients)"
	}

	// 3. Mail system senders.
	senders := senderLocalParts(m)
	for _, local := range senders {
		switch {
		case strings.EqualFold(local, "mailer-daemon"):
			return "sender MAILER-DAEMON"
		case strings.EqualFold(local, "postmaster"):
			return "sender postmaster"
		}
	}

	// 4. RFC 3834 §5.
	for _, v := range headerValues(m, "Auto-Submitted", m.AutoSubmitted) {
		switch kw := keyword(v); kw {
		case "", "no":
		case "auto-generated", "auto-replied", "auto-notified":
			return "Auto-Submitted: " + kw
		default:
			return "Auto-Submitted (other keyword)"
		}
	}

	// 5. Microsoft Exchange and other vendors.
	if hasHeader(m, "X-MS-Exchange-Inbox-Rules-Loop") {
		return "Exchange inbox rule (X-MS-Exchange-Inbox-Rules-Loop)"
	}
	if hasHeader(m, "X-Autoreply") {
		return "auto reply (X-Autoreply)"
	}
	if hasHeader(m, "X-Autorespond") {
		return "auto reply (X-Autorespond)"
	}
	if r := autoResponseSuppress(headerValues(m, "X-Auto-Response-Suppress", "")); r != "" {
		return r
	}

	// 6. Other systems' loop markers.
	if len(m.XLoop) > 0 {
		return "loop marker of another system (X-Loop)"
	}

	// 7. Lists and bulk mail.
	if hasHeader(m, "List-Id") || m.ListID != "" {
		return "mailing list (List-Id)"
	}
	for _, v := range headerValues(m, "Precedence", m.Precedence) {
		switch keyword(v) {
		case "bulk":
			return "Precedence: bulk"
		case "junk":
			return "Precedence: junk"
		case "list":
			return "Precedence: list"
		case "auto_reply", "auto-reply":
			return "Precedence: auto_reply"
		}
	}
	if hasHeader(m, "List-Unsubscribe") || m.ListUnsubscribe != "" {
		return "mailing list (List-Unsubscribe)"
	}
	if hasHeader(m, "List-Post") {
		return "mailing list (List-Post)"
	}

	// 8. Null envelope sender.
	if rp, ok := returnPath(m); ok && rp == "" {
		return "empty Return-Path"
	}

	// 9. No-reply senders.
	for _, local := range senders {
		if isNoReply(local) {
			return "no-reply sender"
		}
	}
	return ""
}

// own reports whether addr is one of p.OwnAddresses. An entry may also be
// written with a display name ("Support <support@example.com>").
func (p *AutoReplyPolicy) own(addr string) bool {
	addr = strings.TrimSpace(addr)
	if p == nil || addr == "" {
		return false
	}
	for _, o := range p.OwnAddresses {
		o = strings.TrimSpace(o)
		if strings.ContainsRune(o, '<') {
			if a, err := netmail.ParseAddress(o); err == nil {
				o = a.Address
			}
		}
		if o != "" && strings.EqualFold(o, addr) {
			return true
		}
	}
	return false
}

// hasHeader reports whether the field name is in m.Headers, even with an
// empty value.
func hasHeader(m *Message, name string) bool {
	_, ok := m.Headers[textproto.CanonicalMIMEHeaderKey(name)]
	return ok
}

// headerValues are all values of the field name from m.Headers, else the
// dedicated Message field (fallback) when it is not empty.
func headerValues(m *Message, name, fallback string) []string {
	if vs, ok := m.Headers[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return vs
	}
	if fallback != "" {
		return []string{fallback}
	}
	return nil
}

// returnPath is the address of the topmost Return-Path field (the one the
// final delivery wrote), without angle brackets, comments and white space;
// ok is false when the mail has no Return-Path field.
func returnPath(m *Message) (addr string, ok bool) {
	vs := headerValues(m, "Return-Path", m.ReturnPath)
	if len(vs) == 0 {
		return "", false
	}
	v := strings.TrimSpace(removeComments(vs[0]))
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "@") { // obsolete source route: <@relay:user@host>
		if i := strings.IndexByte(v, ':'); i >= 0 {
			v = v[i+1:]
		}
	}
	return strings.TrimSpace(v), true
}

// senderLocalParts are the local parts of From, Sender, the Reply-To
// addresses and Return-Path, where present.
func senderLocalParts(m *Message) []string {
	var out []string
	add := func(addr string) {
		addr = strings.TrimSpace(addr)
		if addr == "" {
			return
		}
		if at := strings.LastIndexByte(addr, '@'); at >= 0 {
			addr = addr[:at]
		}
		if l := strings.Trim(addr, `"`); l != "" {
			out = append(out, l)
		}
	}
	add(m.From.Email)
	add(m.Sender.Email)
	for _, a := range m.ReplyTo {
		add(a.Email)
	}
	if rp, ok := returnPath(m); ok {
		add(rp)
	}
	return out
}

// isNoReply reports whether a local part is a no-reply address. The local
// part is split into words at '.', '+', '-', '_' and '='. It is a no-reply
// address when a run of consecutive words, joined, is "noreply",
// "donotreply" or "dontreply" (noreply, no-reply, no_reply, no.reply,
// donotreply, do-not-reply, do_not_reply, noreply+xyz,
// no-reply-notifications, calendar-noreply), or when its first word is
// "bounce" or "bounces" (bounce+xyz, bounces-123: the VERP return paths of
// mailing services). A word that merely contains "reply" does not count:
// replyguy, noreplyhero and reply are ordinary addresses.
func isNoReply(local string) bool {
	words := strings.FieldsFunc(strings.ToLower(local), func(r rune) bool {
		return r == '.' || r == '+' || r == '-' || r == '_' || r == '='
	})
	if len(words) == 0 {
		return false
	}
	if words[0] == "bounce" || words[0] == "bounces" {
		return true
	}
	for i := range words {
		joined := ""
		for j := i; j < len(words) && j < i+3; j++ {
			joined += words[j]
			switch joined {
			case "noreply", "donotreply", "dontreply":
				return true
			}
		}
	}
	return false
}

// autoResponseSuppress reads Microsoft's X-Auto-Response-Suppress
// ([MS-OXCMAIL] 2.1.3.2.20: a comma-separated list of None, All, DR, NDR,
// RN, NRN, OOF, AutoReply). All, AutoReply and OOF ask for no automatic
// reply; the others only concern delivery and read reports.
func autoResponseSuppress(values []string) string {
	var all, autoReply, oof bool
	for _, v := range values {
		for _, tok := range strings.FieldsFunc(v, func(r rune) bool {
			return r == ',' || r == ';' || r == ' ' || r == '\t'
		}) {
			switch strings.ToLower(tok) {
			case "all":
				all = true
			case "autoreply":
				autoReply = true
			case "oof":
				oof = true
			}
		}
	}
	switch {
	case all:
		return "X-Auto-Response-Suppress: All"
	case autoReply:
		return "X-Auto-Response-Suppress: AutoReply"
	case oof:
		return "X-Auto-Response-Suppress: OOF"
	}
	return ""
}

// keyword is the first word of a structured header value, lower case,
// without comments and parameters: "Auto-Replied (vacation); owner-email=x"
// gives "auto-replied".
func keyword(v string) string {
	v = removeComments(v)
	v, _, _ = strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(v))
}

// removeComments drops RFC 5322 comments, nested and with quoted pairs, and
// leaves a space in their place. An unclosed comment runs to the end.
func removeComments(v string) string {
	if !strings.ContainsRune(v, '(') {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		k, end, _ := span(v, i)
		if k == tokLiteral {
			k, end = spanLoose(v, i)
		}
		if k == tokComment {
			b.WriteByte(' ')
		} else {
			b.WriteString(v[i:end])
		}
		i = end
	}
	return b.String()
}
