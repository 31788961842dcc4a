package templates

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	due     = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	created = time.Date(2026, 11, 23, 14, 5, 0, 0, time.UTC)
)

// agentTicket is a ticket as the desk would describe it to an agent.
func agentTicket(lang string) AgentTicket {
	t := AgentTicket{
		Number:    1042,
		Subject:   "Rechnung März doppelt abgebucht",
		Queue:     "billing",
		Purpose:   "support",
		Status:    "new",
		Consent:   "not needed",
		Requester: "Erika Müller <erika@kunde.example>",
		Due:       due,
	}
	if lang == "en" {
		t.Subject = "Invoice for March charged twice"
		t.Requester = "Jane Doe <jane@customer.example>"
	}
	return t
}

func customerText(lang string) string {
	if lang == "de" {
		return "Guten Tag,\n\nmeine Rechnung RE-2026-0311 für März wurde zweimal abgebucht, am 2. und am 3. März.\nBitte erstatten Sie den doppelten Betrag.\n\n- Betrag: 49,00 EUR\n- Konto: endet auf 4711\n\nViele Grüße\nErika Müller"
	}
	return "Hello,\n\nmy invoice INV-2026-0311 for March was charged twice, on 2 and 3 March.\nPlease refund the second charge.\n\n- amount: 49.00 EUR\n- account: ending in 4711\n\nRegards\nJane Doe"
}

func from(lang string) string { return agentTicket(lang).Requester }

// agentGolden are the agent mails whose subject and text are kept in
// testdata, by name.
func agentGolden(lang string) map[string]func(*Set) (string, string, error) {
	tk := agentTicket(lang)
	agent := "max@beispiel.example"
	note := map[string]string{"de": "Kundin angerufen, Erstattung ist veranlasst.", "en": "Called the customer, the refund is on its way."}[lang]
	answer := map[string]string{"de": "Guten Tag Frau Müller,\n\ndie doppelte Abbuchung erstatten wir Ihnen in den nächsten Tagen.\n\nViele Grüße\nMax Berger", "en": "Dear Ms Doe,\n\nwe will refund the second charge within the next few days.\n\nKind regards\nMax Berger"}[lang]
	reasons := map[string][]string{
		"de": {"Die Absenderadresse ist nicht die des Agenten, für den die Antwortadresse ausgestellt ist.", "Der Befehl #frobnicate ist unbekannt."},
		"en": {"The From address is not that of the agent the reply address was made for.", "The command #frobnicate is unknown."},
	}[lang]
	hint := map[string]string{"de": "Antworten Sie von Ihrer eigenen Adresse auf die Benachrichtigung.", "en": "Reply to the notification from your own address."}[lang]
	restricted := map[string]string{"de": "keine Einwilligung innerhalb von 14 Tagen", "en": "no consent within 14 days"}[lang]

	assigned := tk
	assigned.Status, assigned.Assignee, assigned.Answered = "open", agent, true
	assigned.Consent = "granted"
	restrictedTk := tk
	restrictedTk.Consent, restrictedTk.Restricted = "pending", restricted
	overdue := tk
	overdue.Overdue = true
	overdue.Consent = "objected"
	erased := assigned
	erased.Requester, erased.Status, erased.Consent = "[erased]", "closed", "withdrawn"
	erased.Due = time.Time{}
	noSubject := tk
	noSubject.Number, noSubject.Subject, noSubject.Purpose = 1043, "", ""
	noSubject.Due = time.Time{}

	shown := []ShownMessage{
		{At: created, Kind: "customer", From: tk.Requester, Text: customerText(lang), Attachments: []string{"RE-2026-0311.pdf (application/pdf, 48 KB)"}},
		{At: created.Add(20 * time.Minute), Kind: "note", From: agent, Text: note},
		{At: created.Add(25 * time.Minute), Kind: "refused", From: "mallory@evil.example", Text: "#close"},
		{At: created.Add(30 * time.Minute), Kind: "answer", From: agent, Text: answer},
	}
	digestAt := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

	return map[string]func(*Set) (string, string, error){
		"notification-new": func(s *Set) (string, string, error) {
			return s.Notification(Notification{Lang: lang, Ticket: tk, New: true, From: from(lang), Text: customerText(lang)})
		},
		"notification-message-attachments": func(s *Set) (string, string, error) {
			return s.Notification(Notification{Lang: lang, Ticket: assigned, From: from(lang), Text: customerText(lang),
				Attachments: []string{"Kontoauszug März.pdf (application/pdf, 120 KB)", "screenshot.png (image/png, 310 KB)"}})
		},
		"notification-excerpt": func(s *Set) (string, string, error) {
			return s.Notification(Notification{Lang: lang, Ticket: tk, New: true, From: from(lang), Text: customerText(lang)[:60], Excerpt: true})
		},
		"notification-restricted": func(s *Set) (string, string, error) {
			return s.Notification(Notification{Lang: lang, Ticket: restrictedTk, From: from(lang), Text: customerText(lang),
				Attachments: []string{"secret.pdf (application/pdf, 1 KB)"}})
		},
		"notification-overdue": func(s *Set) (string, string, error) {
			return s.Notification(Notification{Lang: lang, Ticket: overdue, From: from(lang), Text: "?"})
		},
		"notification-no-subject": func(s *Set) (string, string, error) {
			return s.Notification(Notification{Lang: lang, Ticket: noSubject, New: true, From: from(lang)})
		},
		"refusal": func(s *Set) (string, string, error) {
			return s.Refusal(Refusal{Lang: lang, Ticket: 1042, Reasons: reasons, Hint: hint})
		},
		"refusal-no-ticket": func(s *Set) (string, string, error) {
			return s.Refusal(Refusal{Lang: lang, Reasons: reasons[:1]})
		},
		"hint": func(s *Set) (string, string, error) {
			return s.Hint(Hint{Lang: lang, Support: "support@beispiel.example"})
		},
		"show": func(s *Set) (string, string, error) {
			return s.Show(Show{Lang: lang, Ticket: assigned, Messages: shown})
		},
		"show-restricted": func(s *Set) (string, string, error) {
			return s.Show(Show{Lang: lang, Ticket: restrictedTk, Messages: shown[:1]})
		},
		"show-erased": func(s *Set) (string, string, error) {
			return s.Show(Show{Lang: lang, Ticket: erased})
		},
		"reminder": func(s *Set) (string, string, error) {
			return s.Reminder(Reminder{Lang: lang, Ticket: tk})
		},
		"reminder-escalation": func(s *Set) (string, string, error) {
			return s.Reminder(Reminder{Lang: lang, Ticket: overdue, Escalation: true})
		},
		"reminder-restricted": func(s *Set) (string, string, error) {
			return s.Reminder(Reminder{Lang: lang, Ticket: restrictedTk})
		},
		"digest": func(s *Set) (string, string, error) {
			return s.Digest(Digest{Lang: lang, Agent: agent, At: digestAt, Overdue: []AgentTicket{overdue},
				DueSoon: []AgentTicket{tk, restrictedTk}, Open: []AgentTicket{assigned, noSubject}})
		},
		"digest-empty": func(s *Set) (string, string, error) {
			return s.Digest(Digest{Lang: lang, Agent: agent, At: digestAt})
		},
		"digest-only-open": func(s *Set) (string, string, error) {
			return s.Digest(Digest{Lang: lang, Agent: agent, At: digestAt, Open: []AgentTicket{assigned}})
		},
	}
}

func TestAgentGolden(t *testing.T) {
	s := load(t)
	for _, lang := range []string{"de", "en"} {
		for name, render := range agentGolden(lang) {
			t.Run(lang+"/"+name, func(t *testing.T) {
				subject, text, err := render(s)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(text, "\n") || strings.HasSuffix(text, "\n\n") {
					t.Errorf("text should end with exactly one newline: %q", text[max(0, len(text)-20):])
				}
				golden(t, filepath.Join("testdata", "agent-"+name+"."+lang+".golden"), "Subject: "+subject+"\n\n"+text)
			})
		}
	}
}
