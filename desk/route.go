package desk

import (
	"net/mail"
	"strconv"
	"strings"

	"ticketd/config"
	"ticketd/mail/mime"
	"ticketd/store"
)

// route chooses the queue of a new ticket from its first mail m, which came
// in through mailbox ("" for ingest without one) from who: the first
// [[route]] that matches (config.Config.Route), else fallback, the
// mailbox's queue. It returns the queue and how it was chosen, as the
// ticket records it (store.Ticket.RoutedBy). Replies that thread into a
// ticket are never routed: its queue stays.
func route(cfg *config.Config, mailbox string, m *mime.Message, who store.Address, fallback string) (string, string) {
	rm := &config.RouteMail{Mailbox: mailbox, Sender: who.Email, Subject: m.Subject, Body: m.Text,
		Recipients: recipients(m)}
	if r, why := cfg.Route(rm); r != nil {
		return r.Queue, "route[" + strconv.Itoa(r.Index) + "]: " + why
	}
	if mailbox == "" {
		return fallback, "no route matched: the first queue"
	}
	return fallback, "no route matched: the queue of mailbox " + mailbox
}

// recipients are the addresses a mail came to, for routing: To and Cc as
// the sender wrote them, and those the receiving servers recorded
// (config.RouteHeaders), which name an alias or a Bcc too.
func recipients(m *mime.Message) []string {
	var out []string
	for _, a := range m.To {
		out = append(out, a.Email)
	}
	for _, a := range m.Cc {
		out = append(out, a.Email)
	}
	for _, h := range config.RouteHeaders {
		for _, v := range m.Headers[h] {
			for _, s := range strings.Split(v, ",") {
				if a := headerAddress(s); a != "" {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// headerAddress reads one address of a Delivered-To, X-Original-To or
// Envelope-To field: a bare addr-spec as a rule, in angle brackets or
// with a display name at times; "" when it holds none.
func headerAddress(s string) string {
	s = strings.TrimSpace(s)
	if a, err := mail.ParseAddress(s); err == nil {
		return a.Address
	}
	s = strings.Trim(s, "<>")
	if strings.Count(s, "@") == 1 && !strings.ContainsAny(s, " \t<>") {
		return s
	}
	return ""
}
