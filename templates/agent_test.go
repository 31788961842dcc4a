package templates

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
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

// agentMails renders every golden case of lang with s, by name.
func agentMails(t *testing.T, s *Set, lang string) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	for name, render := range agentGolden(lang) {
		subject, text, err := render(s)
		if err != nil {
			t.Fatalf("%s %s: %v", lang, name, err)
		}
		out[name] = [2]string{subject, text}
	}
	return out
}

// commandLines are the first words of the command help's lines, one per
// command.
var commandLines = []string{"#note ", "#close ", "#reopen ", "#assign ", "#queue ", "#purpose ", "#hold ", "#release ", "#show "}

// TestAgentLayout checks the layout of every agent mail: no line longer
// than 72 characters unless it is one word or the customer's own, no
// trailing white space but in the customer's text, and the command help,
// one line per command, at the end of every mail the agent can act on.
func TestAgentLayout(t *testing.T) {
	s := load(t)
	for _, lang := range []string{"de", "en"} {
		own := strings.Split(customerText(lang), "\n")
		for name, m := range agentMails(t, s, lang) {
			text := m[1]
			for i, line := range strings.Split(text, "\n") {
				if utf8.RuneCountInString(line) > textWidth && strings.ContainsRune(line, ' ') && !slices.Contains(own, line) {
					t.Errorf("%s %s line %d has %d characters: %q", lang, name, i+1, utf8.RuneCountInString(line), line)
				}
				if strings.TrimRight(line, " \t") != line {
					t.Errorf("%s %s line %d ends in white space: %q", lang, name, i+1, line)
				}
			}
			if strings.Contains(text, "\n\n\n") {
				t.Errorf("%s %s: two blank lines in a row", lang, name)
			}
			acts := !strings.HasPrefix(name, "digest") && name != "refusal-no-ticket"
			tail := text[max(0, len(text)-1200):]
			for _, c := range commandLines {
				if got := strings.Contains(tail, "\n"+c); got != acts {
					t.Errorf("%s %s: command help line %q at the end: %v, want %v", lang, name, c, got, acts)
				}
			}
			if acts && !strings.HasPrefix(text[strings.LastIndex(text, "\n#")+1:], "#show ") {
				t.Errorf("%s %s: does not end with the command help", lang, name)
			}
		}
	}
}

// TestAgentCommandHelp checks what the help says of the commands: at the
// top of the reply, before any text, and everything below them goes to the
// customer unless #note.
func TestAgentCommandHelp(t *testing.T) {
	s := load(t)
	want := map[string][]string{
		"de": {"jeder in einer eigenen Zeile ganz oben in Ihrer Antwort, vor allem anderen Text",
			"Alles, was Sie unter die Befehle schreiben, geht an den Kunden, es sei denn, einer der Befehle ist #note.",
			"#assign ADRESSE", "#queue NAME", "(nur Supervisoren)", "#purpose NAME", "#hold KATEGORIE", "#release KATEGORIE"},
		"en": {"each on its own line at the top of your reply, before any text",
			"Everything you write below the commands goes to the customer, unless one of them is #note.",
			"#assign ADDRESS", "#queue NAME", "(supervisors only)", "#purpose NAME", "#hold CATEGORY", "#release CATEGORY"},
	}
	for lang, phrases := range want {
		_, text, err := s.Hint(Hint{Lang: lang, Support: "support@beispiel.example"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range phrases {
			if !strings.Contains(oneLine(text), p) {
				t.Errorf("%s: the command help lacks %q", lang, p)
			}
		}
	}
}

// TestAgentSubjects checks the subject lines: the ticket's tag and subject,
// one line and cut like an acknowledgement's; a refusal's reason; the
// digest's counts.
func TestAgentSubjects(t *testing.T) {
	s := load(t)
	tk := agentTicket("en")
	tk.Subject = "Help\r\n#close\u202e now " + strings.Repeat("x", 120)
	wantTag := "[#1042] Help #close now " + strings.Repeat("x", 83) + "…"
	for name, render := range map[string]func() (string, string, error){
		"notification": func() (string, string, error) { return s.Notification(Notification{Lang: "en", Ticket: tk, New: true}) },
		"show":         func() (string, string, error) { return s.Show(Show{Lang: "de", Ticket: tk}) },
		"reminder":     func() (string, string, error) { return s.Reminder(Reminder{Lang: "en", Ticket: tk, Escalation: true}) },
	} {
		subject, text, err := render()
		if err != nil {
			t.Fatal(err)
		}
		if subject != wantTag {
			t.Errorf("%s: subject %q, want %q", name, subject, wantTag)
		}
		if !strings.Contains(text, "[#1042] Help #close now") || strings.Contains(text, "\n#close now") {
			t.Errorf("%s: the subject is not one line in the facts:\n%s", name, text)
		}
	}
	for _, c := range []struct {
		r    Refusal
		want string
	}{
		{Refusal{Lang: "en", Ticket: 7, Reasons: []string{"The token is not valid.", "second"}}, "[#7] not sent: The token is not valid"},
		{Refusal{Lang: "de", Ticket: 7, Reasons: []string{"Das Token ist ungültig."}}, "[#7] nicht gesendet: Das Token ist ungültig"},
		{Refusal{Lang: "en", Reasons: []string{"no ticket\nfits"}}, "Not sent: no ticket fits"},
		{Refusal{Lang: "de", Reasons: []string{"", "kein Ticket passt"}}, "Nicht gesendet: kein Ticket passt"},
	} {
		if subject, _, err := s.Refusal(c.r); err != nil || subject != c.want {
			t.Errorf("Refusal(%+v) subject = %q, %v; want %q", c.r, subject, err, c.want)
		}
	}
	d := Digest{Agent: "a@b.example", At: due, Overdue: []AgentTicket{tk}, DueSoon: []AgentTicket{tk, tk}, Open: []AgentTicket{tk, tk, tk}}
	for lang, want := range map[string]string{"en": "Ticket digest: 1 overdue, 2 due soon", "de": "Ticket-Übersicht: 1 überfällig, 2 bald fällig"} {
		d.Lang = lang
		if subject, _, err := s.Digest(d); err != nil || subject != want {
			t.Errorf("%s digest subject = %q, %v; want %q", lang, subject, err, want)
		}
	}
	for lang, want := range map[string]string{"en": "[#1043] (no subject)", "de": "[#1043] (ohne Betreff)"} {
		if subject, _, err := s.Notification(Notification{Lang: lang, Ticket: AgentTicket{Number: 1043, Subject: " \u200b\t"}}); err != nil || subject != want {
			t.Errorf("%s: empty subject = %q, %v; want %q", lang, subject, err, want)
		}
	}
}

// TestAgentMailText checks that a text from mail is shown as it is: not
// executed, not reflowed, not re-indented; only control characters but the
// tab go, and blank lines at its ends.
func TestAgentMailText(t *testing.T) {
	s := load(t)
	long := strings.Repeat("lang ", 40)
	text := "\r\n\n  {{.Ticket.Number}} {{template \"agent-commands\" .}}\r\n" + long + "\n- item " + long + "\n\ttab\x1b[31mred\x00\x07\n\n\n\nold\rmac\nend \u202eRTL\u202c  \n\n"
	want := "  {{.Ticket.Number}} {{template \"agent-commands\" .}}\n" + long + "\n- item " + long + "\n\ttab[31mred\n\n\n\nold\nmac\nend \u202eRTL\u202c"
	for _, lang := range []string{"de", "en"} {
		_, out, err := s.Notification(Notification{Lang: lang, Ticket: agentTicket(lang), From: from(lang), Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "\n"+want+"\n") {
			t.Errorf("%s: notification does not show the text as it is:\n%s", lang, out)
		}
		_, out, err = s.Show(Show{Lang: lang, Ticket: agentTicket(lang), Messages: []ShownMessage{
			{Kind: "customer", From: from(lang), Text: text}, {Kind: "answer", From: "max@beispiel.example", Text: "\x000\x00 \x001\x00"}}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "\n"+want+"\n") {
			t.Errorf("%s: show does not show the text as it is:\n%s", lang, out)
		}
		if !strings.Contains(out, "\n0 1\n") || strings.Count(out, "{{.Ticket.Number}}") != 1 {
			t.Errorf("%s: a text that looks like a placeholder is replaced:\n%s", lang, out)
		}
		// An excerpt cut inside a character is still valid UTF-8.
		_, out, err = s.Notification(Notification{Lang: lang, Ticket: agentTicket(lang), Text: "März"[:2], Excerpt: true})
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(out) || !strings.Contains(out, "\nM\uFFFD\n") {
			t.Errorf("%s: a cut character is not replaced:\n%s", lang, out)
		}
	}
}

// TestAgentAddresses checks addresses and names on one line: line breaks
// and format characters go, a display name that holds an address is
// quoted, so that it is not read as the sender's address.
func TestAgentAddresses(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Jane Doe <jane@customer.example>", "Jane Doe <jane@customer.example>"},
		{`"Doe, Jane" <jane@customer.example>`, `"Doe, Jane" <jane@customer.example>`},
		{"ceo@bank.example <mallory@evil.example>", `"ceo@bank.example" <mallory@evil.example>`},
		{`"Boss <ceo@bank.example>" <mallory@evil.example>`, `"Boss <ceo@bank.example>" <mallory@evil.example>`},
		{`"say \"hi\"" <a@b.example>`, `"say \"hi\"" <a@b.example>`},
		{"Jane\r\nBcc: x@y.example <jane@customer.example>", `"Jane Bcc: x@y.example" <jane@customer.example>`},
		{"<jane@customer.example>", "<jane@customer.example>"},
		{"jane@customer.example", "jane@customer.example"},
		{"[erased]", "[erased]"},
		{"Jane \u202eeod\u202c <jane@customer.example>", "Jane eod <jane@customer.example>"},
		{strings.Repeat("N", 100) + " <jane@customer.example>", strings.Repeat("N", 63) + "… <jane@customer.example>"},
		{"", ""},
	} {
		if got := echoAddress(c.in); got != c.want {
			t.Errorf("echoAddress(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	s := load(t)
	tk := agentTicket("en")
	tk.Requester = "Evil\n#close <mallory@evil.example>"
	_, out, err := s.Notification(Notification{Lang: "en", Ticket: tk, From: "x\n\nTicket: [#1] forged <mallory@evil.example>", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if line == "#close <mallory@evil.example>" || strings.HasPrefix(line, "Ticket: [#1] ") {
			t.Errorf("a name starts a line of its own: %q", line)
		}
	}
}

// TestAgentRestricted checks that a restricted ticket's mails carry none of
// the customer's texts or attachments, even from an override that shows
// them unconditionally, and say why and that nothing is relayed.
func TestAgentRestricted(t *testing.T) {
	dir := t.TempDir()
	commands := `{{template "agent-commands" .}}`
	writeFile(t, dir, "agent-notification.en.txt.tmpl", "Text: {{.Text}}\n{{range .Attachments}}{{.}}\n{{end}}{{.Ticket.Restricted}}\n"+commands+"\n")
	writeFile(t, dir, "agent-show.en.txt.tmpl", "{{.Ticket.Restricted}}\n{{range .Messages}}{{.Text}}\n{{range .Attachments}}{{.}}\n{{end}}{{end}}"+commands+"\n")
	over, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	builtinSet := load(t)
	const secret, file = "my account number is 4711", "secret-attachment.pdf"
	said := map[string][]string{
		"de": {"keine Einwilligung", "Die Verarbeitung der Daten dieses Kunden ist eingeschränkt (Art. 18 DSGVO)",
			"wird erst an den Kunden gesendet, wenn die Einschränkung aufgehoben ist"},
		"en": {"no consent", "The processing of this customer's data is restricted (Art. 18 GDPR)",
			"nothing you answer on this ticket is sent to the customer until the restriction is lifted"},
	}
	for _, lang := range []string{"de", "en"} {
		tk := agentTicket(lang)
		tk.Restricted = map[string]string{"de": "keine Einwilligung", "en": "no consent"}[lang]
		for setName, s := range map[string]*Set{"built-in": builtinSet, "override": over} {
			_, n, err := s.Notification(Notification{Lang: lang, Ticket: tk, From: from(lang), Text: secret, Attachments: []string{file}})
			if err != nil {
				t.Fatal(err)
			}
			_, sh, err := s.Show(Show{Lang: lang, Ticket: tk, Messages: []ShownMessage{{Kind: "customer", Text: secret, Attachments: []string{file}}}})
			if err != nil {
				t.Fatal(err)
			}
			for mail, out := range map[string]string{"notification": n, "show": sh} {
				if strings.Contains(out, secret) || strings.Contains(out, file) {
					t.Errorf("%s %s %s of a restricted ticket shows the customer's data:\n%s", setName, lang, mail, out)
				}
				if !strings.Contains(out, tk.Restricted) {
					t.Errorf("%s %s %s does not say why processing is restricted:\n%s", setName, lang, mail, out)
				}
				if setName == "built-in" {
					for _, p := range said[lang] {
						if !strings.Contains(oneLine(out), p) {
							t.Errorf("%s %s lacks %q:\n%s", lang, mail, p, out)
						}
					}
				}
			}
		}
	}
}

// TestAgentPersonalData checks that a notification and a #show say that
// they are a copy of personal data not to be forwarded or kept.
func TestAgentPersonalData(t *testing.T) {
	s := load(t)
	want := map[string]string{
		"de": "Diese E-Mail ist eine Kopie personenbezogener Daten und dient nur der Bearbeitung dieses Tickets. Leiten Sie sie nicht weiter und bewahren Sie sie nicht auf: Löschen Sie sie, sobald das Ticket erledigt ist.",
		"en": "This mail is a copy of personal data, sent to you only to work on this ticket. Do not forward it and do not keep it: delete it when the ticket is done.",
	}
	for lang, sentence := range want {
		mails := agentMails(t, s, lang)
		for name, m := range mails {
			if strings.HasPrefix(name, "notification") || strings.HasPrefix(name, "show") {
				if !strings.Contains(oneLine(m[1]), sentence) {
					t.Errorf("%s %s lacks %q", lang, name, sentence)
				}
			}
		}
		if got := oneLine(mails["notification-excerpt"][1]); !strings.Contains(got, "#show") {
			t.Errorf("%s: an excerpt does not say how to get the full text", lang)
		}
	}
}

func TestAgentErrors(t *testing.T) {
	s := load(t)
	tk := agentTicket("en")
	for name, render := range map[string]func() (string, string, error){
		"notification language":  func() (string, string, error) { return s.Notification(Notification{Lang: "fr", Ticket: tk}) },
		"notification no ticket": func() (string, string, error) { return s.Notification(Notification{Lang: "en"}) },
		"show no ticket":         func() (string, string, error) { return s.Show(Show{Lang: "de"}) },
		"reminder no ticket":     func() (string, string, error) { return s.Reminder(Reminder{Lang: "en"}) },
		"reminder language":      func() (string, string, error) { return s.Reminder(Reminder{Ticket: tk}) },
		"refusal no reason":      func() (string, string, error) { return s.Refusal(Refusal{Lang: "en", Ticket: 1}) },
		"refusal blank reasons":  func() (string, string, error) { return s.Refusal(Refusal{Lang: "de", Reasons: []string{" ", "\n"}}) },
		"refusal language":       func() (string, string, error) { return s.Refusal(Refusal{Lang: "EN", Reasons: []string{"x"}}) },
		"hint no support":        func() (string, string, error) { return s.Hint(Hint{Lang: "en", Support: "\u200b"}) },
		"hint language":          func() (string, string, error) { return s.Hint(Hint{Support: "s@x.example"}) },
		"digest no agent":        func() (string, string, error) { return s.Digest(Digest{Lang: "de", At: due}) },
		"digest no time":         func() (string, string, error) { return s.Digest(Digest{Lang: "de", Agent: "a@x.example"}) },
		"digest language":        func() (string, string, error) { return s.Digest(Digest{Lang: "it", Agent: "a@x.example"}) },
	} {
		if subject, text, err := render(); err == nil || subject != "" || text != "" {
			t.Errorf("%s: (%q, %q, %v), want an error", name, subject, text, err)
		}
	}
}

func TestAgentOverride(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "agent-notification.en.txt.tmpl", `Ticket {{.Ticket.Number}} for you.{{with .Ticket.Restricted}} Restricted: {{.}}{{end}}
{{.Text}}
{{template "agent-commands" .}}
`)
	writeFile(t, dir, "agent-commands.de.txt.tmpl", "Befehle: #note #close #show\n")
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	builtinSet := load(t)
	_, text, err := s.Notification(Notification{Lang: "en", Ticket: agentTicket("en"), Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	_, help, _ := builtinSet.Hint(Hint{Lang: "en", Support: "s@x.example"})
	help = help[strings.Index(help, "-----"):]
	if want := "Ticket 1042 for you.\nhello\n" + help; text != want {
		t.Errorf("override not used:\n%s\nwant\n%s", text, want)
	}
	for _, lang := range []string{"de", "en"} {
		over, orig := agentMails(t, s, lang), agentMails(t, builtinSet, lang)
		for name := range orig {
			changed := over[name] != orig[name]
			want := (lang == "en" && strings.HasPrefix(name, "notification")) ||
				(lang == "de" && !strings.HasPrefix(name, "digest") && name != "refusal-no-ticket")
			if changed != want {
				t.Errorf("%s %s changed by the overrides: %v, want %v", lang, name, changed, want)
			}
			if lang == "de" && want && !strings.HasSuffix(over[name][1], "\nBefehle: #note #close #show\n") {
				t.Errorf("de %s: the command help override is not used:\n%s", name, over[name][1])
			}
		}
	}
}

func TestAgentLoadErrors(t *testing.T) {
	src := func(name string) string { return builtinSource(t, name) }
	for _, c := range []struct {
		name, file, content, want string
	}{
		{"parse error", "agent-show.de.txt.tmpl", "{{range .Messages}}", "unexpected EOF"},
		{"unknown function", "agent-digest.en.txt.tmpl", "{{frobnicate .}}", `function "frobnicate" not defined`},
		{"missing field", "agent-facts.en.txt.tmpl", "{{.Numbr}}", "can't evaluate field Numbr"},
		{"missing field in a branch", "agent-facts.de.txt.tmpl",
			strings.Replace(src("agent-facts.de.txt.tmpl"), "ÜBERFÄLLIG", "{{.Overdu}}", 1), "can't evaluate field Overdu"},
		{"missing field in the restricted branch", "agent-show.en.txt.tmpl",
			strings.Replace(src("agent-show.en.txt.tmpl"), "(not shown: processing restricted)", "{{.Reason}}", 1), "can't evaluate field Reason"},
		{"missing field of an escalation", "agent-reminder.de.txt.tmpl",
			strings.Replace(src("agent-reminder.de.txt.tmpl"), "Supervisor der Queue {{.Ticket.Queue}}", "{{.Supervisor}}", 1), "can't evaluate field Supervisor"},
		{"no command help", "agent-reminder.en.txt.tmpl", "Ticket {{.Ticket.Number}} is due.\n", "does not end with the command help"},
		{"command help not at the end", "agent-notification.de.txt.tmpl",
			src("agent-notification.de.txt.tmpl") + "\nMit freundlichen Grüßen\n", "does not end with the command help"},
		{"empty command help", "agent-commands.en.txt.tmpl", "{{/* none */}}\n", "the command help is empty"},
		{"no customer text", "agent-notification.en.txt.tmpl",
			strings.Replace(src("agent-notification.en.txt.tmpl"), "{{with .Text}}{{.}}{{else}}(no text){{end}}", "", 1), "leaves out the customer's text"},
		{"text cut", "agent-notification.de.txt.tmpl",
			strings.Replace(src("agent-notification.de.txt.tmpl"), "{{with .Text}}{{.}}", `{{with .Text}}{{slice . 1}}`, 1), "changes a text from mail"},
		{"text escaped", "agent-show.en.txt.tmpl",
			strings.Replace(src("agent-show.en.txt.tmpl"), "{{with .Text}}{{.}}", `{{with .Text}}{{printf "%q" .}}`, 1), "leaves out a message's text"},
		{"no restriction", "agent-facts.en.txt.tmpl", "Ticket: [#{{.Number}}]\n", "leaves out why processing is restricted"},
		{"no reasons", "agent-refusal.de.txt.tmpl", "Abgewiesen.\n{{if .Ticket}}{{template \"agent-commands\" .}}{{end}}\n", "leaves out a reason"},
		{"no hint", "agent-refusal.en.txt.tmpl",
			strings.Replace(src("agent-refusal.en.txt.tmpl"), "What to do instead: {{.}}", "", 1), "leaves out the hint"},
		{"unknown name", "agent-notify.en.txt.tmpl", "x", "not a template name"},
		{"unknown language", "agent-hint.fr.txt.tmpl", "x", "not a template name"},
	} {
		t.Run(c.name, func(t *testing.T) { loadRefuses(t, c.file, c.content, c.want) })
	}
}

func TestAgentConcurrent(t *testing.T) {
	s := load(t)
	want := agentMails(t, s, "de")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				for name, render := range agentGolden("de") {
					subject, text, err := render(s)
					if err != nil || [2]string{subject, text} != want[name] {
						t.Errorf("%s: concurrent render differs", name)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestAgentRenderError checks an override that fails only on data the
// samples do not have: the error names the file and the ticket, and no
// subject or text comes back.
func TestAgentRenderError(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "agent-notification.de.txt.tmpl",
		`{{.Text}} {{.Ticket.Restricted}}{{if gt (len .Attachments) 2}}{{.Anhang}}{{end}}`+"\n{{template \"agent-commands\" .}}\n")
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	subject, text, err := s.Notification(Notification{Lang: "de", Ticket: agentTicket("de"), Text: "x", Attachments: []string{"a", "b", "c"}})
	if err == nil || subject != "" || text != "" {
		t.Fatalf("(%q, %q, %v), want an error", subject, text, err)
	}
	for _, want := range []string{path, "render agent-notification for ticket 1042", "can't evaluate field Anhang"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
