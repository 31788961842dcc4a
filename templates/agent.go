package templates

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	ttemplate "text/template"
	"time"
	"unicode"
)

// The mails to agents: one text/template set per language holding a
// template per mail and two that the mails include, the ticket's facts and
// the command help.
const (
	roleNotification = "agent-notification"
	roleRefusal      = "agent-refusal"
	roleHint         = "agent-hint"
	roleShow         = "agent-show"
	roleReminder     = "agent-reminder"
	roleDigest       = "agent-digest"
	roleFacts        = "agent-facts"
	roleCommands     = "agent-commands"
)

var agentRoles = []string{roleNotification, roleRefusal, roleHint, roleShow, roleReminder, roleDigest, roleFacts, roleCommands}

// agentSet is the agent mail templates of one language.
type agentSet struct {
	text  *ttemplate.Template // every role, by name
	where map[string]string   // by role: "built-in agent-show.de.txt.tmpl" or the override's path
}

func agentNames() []string { return roleNames(agentRoles, extText) }

// AgentTicket is the facts of a ticket an agent mail shows.
type AgentTicket struct {
	Number     uint64
	Subject    string    // the ticket's subject (EchoSubject applied by the template layer)
	Queue      string    //
	Purpose    string    //
	Status     string    // "new" | "open" | "closed"
	Consent    string    // "granted", "pending", "withdrawn", "objected", "not needed" (legal basis is not consent)
	Restricted string    // "" or why processing is restricted (then the mail says: no text, no relay)
	Requester  string    // "Name <email>" of the customer, or "[erased]"
	Assignee   string    // agent address or ""
	Due        time.Time // zero: none
	Answered   bool      // the first answer was given
	Overdue    bool      //
}

// Notification tells an agent of a new ticket or a new customer message on
// one.
type Notification struct {
	Lang        string
	Ticket      AgentTicket
	New         bool     // a new ticket (else a new customer message on it)
	From        string   // "Name <email>" of the customer message's author
	Text        string   // the customer's text (full), or an excerpt when Excerpt
	Excerpt     bool     // minimal notification: say the full text comes with #show
	Attachments []string // "name (type, size)" lines
}

// Refusal tells an agent that its mail was not relayed, and why.
type Refusal struct {
	Lang    string
	Ticket  uint64   // 0 when no ticket is known
	Reasons []string // fixed phrases from ticketd, one per line
	Hint    string   // optional: what to do instead (fixed phrase from ticketd)
}

// Hint answers an agent that wrote to the support address without a
// ticket's reply address.
type Hint struct {
	Lang    string
	Support string // the support address
}

// ShownMessage is one message of a ticket in a Show.
type ShownMessage struct {
	At          time.Time
	Kind        string // "customer", "answer", "note", "refused"
	From        string
	Text        string
	Attachments []string
}

// Show is the whole ticket, mailed to the agent that asked with #show.
type Show struct {
	Lang     string
	Ticket   AgentTicket
	Messages []ShownMessage
}

// Reminder is a ticket due soon, to the queue's agents, or an overdue one,
// to its supervisors.
type Reminder struct {
	Lang       string
	Ticket     AgentTicket
	Escalation bool // overdue, to supervisors (else due soon, to agents)
}

// Digest is an agent's overview of its queues' tickets.
type Digest struct {
	Lang                   string
	Agent                  string
	At                     time.Time
	Overdue, DueSoon, Open []AgentTicket // each may be empty
}

// The words of the subject lines, by language.
var (
	noSubject     = map[string]string{"de": "(ohne Betreff)", "en": "(no subject)"}
	notSent       = map[string]string{"de": "nicht gesendet: ", "en": "not sent: "}
	notSentNoTag  = map[string]string{"de": "Nicht gesendet: ", "en": "Not sent: "}
	hintSubject   = map[string]string{"de": "Nicht zugeordnet: Bitte antworten Sie auf die Benachrichtigung zum Ticket", "en": "Not filed: please reply to the notification of a ticket"}
	digestSubject = map[string]string{"de": "Ticket-Übersicht: %d überfällig, %d bald fällig", "en": "Ticket digest: %d overdue, %d due soon"}
)

// Notification renders n: the subject is the ticket's tag and subject. A
// restricted ticket's notification carries neither the text nor the
// attachments, whatever the template says.
func (s *Set) Notification(n Notification) (subject, text string, err error) {
	as, err := s.agentLang(n.Lang, roleNotification, n.Ticket.Number)
	if err != nil {
		return "", "", err
	}
	var v verbatim
	n.Ticket = n.Ticket.clean()
	n.From = echoAddress(n.From)
	n.Text = v.hold(n.Text)
	n.Attachments = cleanLines(n.Attachments)
	if n.Ticket.Restricted != "" {
		n.Text, n.Attachments = "", nil
	}
	if text, err = as.render(roleNotification, n.Ticket.Number, n, &v); err != nil {
		return "", "", err
	}
	return tagged(n.Ticket, n.Lang), text, nil
}

// Refusal renders r: the subject is "[#N] not sent: " and the first reason
// ("Not sent: ..." without a ticket).
func (s *Set) Refusal(r Refusal) (subject, text string, err error) {
	as, err := s.agentLang(r.Lang, roleRefusal, r.Ticket)
	if err != nil {
		return "", "", err
	}
	r.Reasons = cleanLines(r.Reasons)
	if len(r.Reasons) == 0 {
		return "", "", fmt.Errorf("templates: render %s: no reason", roleRefusal)
	}
	r.Hint = clean(r.Hint)
	if text, err = as.render(roleRefusal, r.Ticket, r, nil); err != nil {
		return "", "", err
	}
	reason := strings.TrimSuffix(EchoSubject(r.Reasons[0]), ".")
	subject = notSentNoTag[r.Lang] + reason
	if r.Ticket != 0 {
		subject = "[#" + strconv.FormatUint(r.Ticket, 10) + "] " + notSent[r.Lang] + reason
	}
	return subject, text, nil
}

// Hint renders h.
func (s *Set) Hint(h Hint) (subject, text string, err error) {
	as, err := s.agentLang(h.Lang, roleHint, 0)
	if err != nil {
		return "", "", err
	}
	if h.Support = echoAddress(h.Support); h.Support == "" {
		return "", "", fmt.Errorf("templates: render %s: no support address", roleHint)
	}
	if text, err = as.render(roleHint, 0, h, nil); err != nil {
		return "", "", err
	}
	return hintSubject[h.Lang], text, nil
}

// Show renders sh: the subject is the ticket's tag and subject. A
// restricted ticket's messages are shown without their text and
// attachments, whatever the template says.
func (s *Set) Show(sh Show) (subject, text string, err error) {
	as, err := s.agentLang(sh.Lang, roleShow, sh.Ticket.Number)
	if err != nil {
		return "", "", err
	}
	var v verbatim
	sh.Ticket = sh.Ticket.clean()
	msgs := make([]ShownMessage, len(sh.Messages))
	for i, m := range sh.Messages {
		m.Kind = clean(m.Kind)
		m.From = echoAddress(m.From)
		m.Text = v.hold(m.Text)
		m.Attachments = cleanLines(m.Attachments)
		if sh.Ticket.Restricted != "" {
			m.Text, m.Attachments = "", nil
		}
		msgs[i] = m
	}
	sh.Messages = msgs
	if text, err = as.render(roleShow, sh.Ticket.Number, sh, &v); err != nil {
		return "", "", err
	}
	return tagged(sh.Ticket, sh.Lang), text, nil
}

// Reminder renders r: the subject is the ticket's tag and subject.
func (s *Set) Reminder(r Reminder) (subject, text string, err error) {
	as, err := s.agentLang(r.Lang, roleReminder, r.Ticket.Number)
	if err != nil {
		return "", "", err
	}
	r.Ticket = r.Ticket.clean()
	if text, err = as.render(roleReminder, r.Ticket.Number, r, nil); err != nil {
		return "", "", err
	}
	return tagged(r.Ticket, r.Lang), text, nil
}

// Digest renders d: the subject counts the overdue and due-soon tickets.
func (s *Set) Digest(d Digest) (subject, text string, err error) {
	as, err := s.agentLang(d.Lang, roleDigest, 0)
	if err != nil {
		return "", "", err
	}
	if d.Agent = echoAddress(d.Agent); d.Agent == "" {
		return "", "", fmt.Errorf("templates: render %s: no agent", roleDigest)
	}
	if d.At.IsZero() {
		return "", "", fmt.Errorf("templates: render %s for %s: no time", roleDigest, d.Agent)
	}
	for _, list := range []*[]AgentTicket{&d.Overdue, &d.DueSoon, &d.Open} {
		ts := make([]AgentTicket, len(*list))
		for i, t := range *list {
			ts[i] = t.clean()
		}
		*list = ts
	}
	if text, err = as.render(roleDigest, 0, d, nil); err != nil {
		return "", "", err
	}
	return fmt.Sprintf(digestSubject[d.Lang], len(d.Overdue), len(d.DueSoon)), text, nil
}

// agentLang is the set of lang, and checks the ticket number of the mails
// that are about one ticket.
func (s *Set) agentLang(lang, role string, ticket uint64) (*agentSet, error) {
	as, ok := s.agent[lang]
	switch {
	case !ok:
		return nil, fmt.Errorf("templates: render %s: unknown language %q", role, lang)
	case ticket == 0 && (role == roleNotification || role == roleShow || role == roleReminder):
		return nil, fmt.Errorf("templates: render %s: no ticket number", role)
	}
	return as, nil
}

// tagged is the subject line of a mail about t: "[#N] " and its subject.
func tagged(t AgentTicket, lang string) string {
	subject := t.Subject
	if subject == "" {
		subject = noSubject[lang]
	}
	return "[#" + strconv.FormatUint(t.Number, 10) + "] " + subject
}

// blankLines is two blank lines or more.
var blankLines = regexp.MustCompile(`\n\n\n+`)

// render executes role with data, reflows the result, makes two blank
// lines or more one, puts the texts v holds back in (as they are), and
// ends it with one newline. ticket (0: none) is for errors.
func (as *agentSet) render(role string, ticket uint64, data any, v *verbatim) (string, error) {
	what := role
	if ticket != 0 {
		what += " for ticket " + strconv.FormatUint(ticket, 10)
	}
	var b bytes.Buffer
	if err := as.text.ExecuteTemplate(&b, role, data); err != nil {
		where, ok := as.where[failedTemplate(err, role)]
		if !ok {
			where = as.where[role]
		}
		return "", fmt.Errorf("templates: %s: render %s: %w", where, what, err)
	}
	out := blankLines.ReplaceAllString(reflow(b.String()), "\n\n")
	if v != nil {
		out = v.restore(out)
	}
	if strings.ContainsRune(out, 0) {
		return "", fmt.Errorf("templates: %s: render %s: changes a text from mail instead of showing it as it is", as.where[role], what)
	}
	return strings.TrimRight(out, "\n") + "\n", nil
}

// verbatim holds the texts from mail that a mail shows as they are: the
// template sees a placeholder of one word, which reflow leaves alone, and
// restore puts the text in its place. No other value holds a NUL (clean
// and mailText drop control characters), so a placeholder that a template
// cut or changed is found.
type verbatim struct{ texts []string }

// hold returns the placeholder of the text s, or "" for an empty text (so
// that a template can test it).
func (v *verbatim) hold(s string) string {
	if s = mailText(s); s == "" {
		return ""
	}
	v.texts = append(v.texts, s)
	return "\x00" + strconv.Itoa(len(v.texts)-1) + "\x00"
}

func (v *verbatim) restore(out string) string {
	pairs := make([]string, 0, 2*len(v.texts))
	for i, t := range v.texts {
		pairs = append(pairs, "\x00"+strconv.Itoa(i)+"\x00", t)
	}
	return strings.NewReplacer(pairs...).Replace(out)
}

// mailText is a text from a mail as an agent mail shows it: line breaks
// made "\n", control characters but the tab dropped (an escape sequence
// must not reach an agent's terminal mail client), invalid UTF-8 (an
// excerpt cut inside a character) made U+FFFD, and blank lines and white
// space at either end trimmed. Nothing else changes.
func mailText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	s = strings.TrimRightFunc(s, unicode.IsSpace)
	for {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok || strings.TrimSpace(line) != "" {
			return s
		}
		s = rest
	}
}

// clean reduces a value of one line to what an agent mail shows: one line,
// without control and format characters.
func clean(s string) string { return echo(s, -1) }

// cleanLines cleans each of lines and leaves out the empty ones.
func cleanLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if l = clean(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// maxAddress is the longest address an agent mail shows (RFC 5321 4.5.3.1.3
// allows 254 octets in a path).
const maxAddress = 254

// echoAddress is an address as an agent mail shows it on one line: "Name
// <addr>" with the name reduced by EchoName, quoted when it holds a
// character that could pass for part of an address (so that a display name
// "ceo@bank.example" is not read as the address), or the address alone.
func echoAddress(s string) string {
	s = clean(s)
	i := strings.LastIndexByte(s, '<')
	if i < 0 || !strings.HasSuffix(s, ">") {
		return echo(s, maxAddress)
	}
	addr := echo(s[i+1:len(s)-1], maxAddress)
	name := EchoName(unquote(strings.TrimSpace(s[:i])))
	switch {
	case name == "":
		return "<" + addr + ">"
	case strings.ContainsAny(name, `<>@",;:\`):
		name = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return name + " <" + addr + ">"
}

// unquote removes the quotes of a quoted display name (RFC 5322 3.2.4).
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (t AgentTicket) clean() AgentTicket {
	t.Subject = EchoSubject(t.Subject)
	t.Queue = clean(t.Queue)
	t.Purpose = clean(t.Purpose)
	t.Status = clean(t.Status)
	t.Consent = clean(t.Consent)
	t.Restricted = clean(t.Restricted)
	t.Requester = echoAddress(t.Requester)
	t.Assignee = echoAddress(t.Assignee)
	return t
}

// agentFuncs are the functions of the agent templates: date (as on the
// consent page), duration and period.
func agentFuncs(lang string) ttemplate.FuncMap {
	f := textFuncs(lang)
	f["date"] = func(t time.Time) string { return Date(t, lang) }
	return f
}

// loadAgent parses the agent templates, each replaced by its override, and
// renders them against sample data.
func (s *Set) loadAgent(overrides map[string]string) error {
	s.agent = map[string]*agentSet{}
	for _, lang := range langs {
		as := &agentSet{text: ttemplate.New("").Funcs(agentFuncs(lang)), where: map[string]string{}}
		for _, role := range agentRoles {
			text, where, err := source(fileName(role, lang, extText), overrides)
			if err != nil {
				return err
			}
			as.where[role] = where
			if _, err := as.text.New(role).Parse(text); err != nil {
				return fmt.Errorf("templates: %s: %w", where, err)
			}
		}
		s.agent[lang] = as
	}
	for _, lang := range langs {
		if err := s.checkAgent(lang); err != nil {
			return fmt.Errorf("%w (rendering sample data)", err)
		}
	}
	return nil
}

// checkAgent renders every agent mail of lang against sample data and
// checks what Load can check only against known data: that a mail the
// agent can act on by replying ends with the command help, that a
// notification and a #show show the customer's text (unless the ticket is
// restricted, and then say why), and that a refusal gives every reason.
func (s *Set) checkAgent(lang string) error {
	as := s.agent[lang]
	commands, err := as.render(roleCommands, 0, Hint{Lang: lang, Support: "support@sample.example"}, nil)
	if err != nil {
		return err
	}
	if strings.TrimSpace(commands) == "" {
		return fmt.Errorf("templates: %s: the command help is empty", as.where[roleCommands])
	}
	for _, sm := range agentSamples(lang) {
		_, out, err := sm.render(s)
		if err != nil {
			return err
		}
		if sm.commands && !strings.HasSuffix(out, commands) {
			return fmt.Errorf(`templates: %s: does not end with the command help ({{template "%s" .}})`, as.blame(sm.role), roleCommands)
		}
		for _, w := range sm.shows {
			if w.value != "" && !strings.Contains(out, w.value) {
				return fmt.Errorf("templates: %s: leaves out %s", as.blame(sm.role), w.field)
			}
		}
	}
	return nil
}

// blame names the file of role for a check its output failed, and the
// overrides of the templates it may include: one of them may be at fault.
func (as *agentSet) blame(role string) string {
	where := as.where[role]
	for _, inc := range []string{roleFacts, roleCommands} {
		if inc != role && !strings.HasPrefix(as.where[inc], "built-in ") {
			where += " (with " + as.where[inc] + ")"
		}
	}
	return where
}

// agentSample is one mail Load renders, and what it must show.
type agentSample struct {
	role     string
	render   func(*Set) (subject, text string, err error)
	commands bool // ends with the command help
	shows    []shown
}

// shown is a value a sample mail must show, and the field it comes from.
type shown struct{ value, field string }

// sampleTickets take every branch of the facts: each status and consent
// state (and an unknown one), restricted or not, a requester erased, an
// assignee or none, no due time, answered, overdue.
func sampleTickets() []AgentTicket {
	due := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	base := AgentTicket{Number: 1000, Subject: "Sample subject", Queue: "sample-queue", Purpose: "sample-purpose",
		Status: "new", Consent: "granted", Requester: "Sample Requester <requester@sample.example>", Due: due}
	var out []AgentTicket
	statuses := []string{"new", "open", "closed", "sample-status"}
	consents := []string{"granted", "pending", "withdrawn", "objected", "not needed", "sample-consent"}
	for i := range 6 {
		t := base
		t.Number += uint64(i)
		t.Status = statuses[i%len(statuses)]
		t.Consent = consents[i]
		switch i {
		case 0:
			t.Assignee = "agent@sample.example"
		case 1:
			t.Subject, t.Purpose = "", ""
			t.Due = time.Time{}
		case 2:
			t.Restricted = "sample restriction"
			t.Requester = "[erased]"
		case 3:
			t.Answered = true
			t.Assignee = "agent@sample.example"
		case 4:
			t.Overdue = true
		case 5:
			t.Overdue, t.Answered = true, true
			t.Restricted = "another sample restriction"
		}
		out = append(out, t)
	}
	return out
}

// agentSamples are the mails Load renders the agent templates of lang
// with: together they take every branch of the built-in templates.
func agentSamples(lang string) []agentSample {
	var out []agentSample
	add := func(role string, commands bool, render func(*Set) (string, string, error), shows ...shown) {
		out = append(out, agentSample{role: role, render: render, commands: commands, shows: shows})
	}
	restricted := func(t AgentTicket) shown {
		return shown{t.Restricted, "why processing is restricted (.Ticket.Restricted)"}
	}
	at := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	tickets := sampleTickets()
	for i, t := range tickets {
		for j := range 4 {
			n := Notification{Lang: lang, Ticket: t, New: j%2 == 0, Excerpt: j >= 2, From: "Sample Author <author@sample.example>",
				Text: fmt.Sprintf("Sample text %d.%d\n\nsecond paragraph", i, j)}
			if j == 1 {
				n.Attachments = []string{"sample.pdf (application/pdf, 12 KB)"}
			}
			if i == 1 && j == 0 {
				n.Text = ""
			}
			want := shown{n.Text, "the customer's text (.Text)"}
			if t.Restricted != "" {
				want = restricted(t)
			}
			add(roleNotification, true, func(s *Set) (string, string, error) { return s.Notification(n) }, want)
		}
		for _, esc := range []bool{false, true} {
			r := Reminder{Lang: lang, Ticket: t, Escalation: esc}
			add(roleReminder, true, func(s *Set) (string, string, error) { return s.Reminder(r) })
		}
		sh := Show{Lang: lang, Ticket: t}
		var want []shown
		for k, kind := range []string{"customer", "answer", "note", "refused", "sample-kind"} {
			m := ShownMessage{At: at.Add(time.Duration(k) * time.Hour), Kind: kind, From: "Sample Author <author@sample.example>",
				Text: fmt.Sprintf("Sample message %d.%d", i, k)}
			if k == 0 {
				m.Attachments = []string{"sample.pdf (application/pdf, 12 KB)", "sample.png (image/png, 3 KB)"}
			}
			if k == 4 {
				m.Text = ""
			}
			sh.Messages = append(sh.Messages, m)
			want = append(want, shown{m.Text, "a message's text (.Text)"})
		}
		if t.Restricted != "" {
			want = []shown{restricted(t)}
		}
		add(roleShow, true, func(s *Set) (string, string, error) { return s.Show(sh) }, want...)
	}
	add(roleShow, true, func(s *Set) (string, string, error) { return s.Show(Show{Lang: lang, Ticket: tickets[0]}) })
	for _, r := range []Refusal{
		{Lang: lang, Ticket: 1000, Reasons: []string{"sample reason"}},
		{Lang: lang, Ticket: 1001, Reasons: []string{"sample reason", "another sample reason"}, Hint: "sample hint"},
		{Lang: lang, Reasons: []string{"sample reason"}, Hint: "sample hint"},
	} {
		want := []shown{{r.Hint, "the hint (.Hint)"}}
		for _, reason := range r.Reasons {
			want = append(want, shown{reason, "a reason (.Reasons)"})
		}
		add(roleRefusal, r.Ticket != 0, func(s *Set) (string, string, error) { return s.Refusal(r) }, want...)
	}
	add(roleHint, true, func(s *Set) (string, string, error) {
		return s.Hint(Hint{Lang: lang, Support: "support@sample.example"})
	})
	for _, d := range []Digest{
		{Lang: lang, Agent: "agent@sample.example", At: at},
		{Lang: lang, Agent: "agent@sample.example", At: at, Overdue: tickets[4:], DueSoon: tickets[:2], Open: tickets},
		{Lang: lang, Agent: "agent@sample.example", At: at, Open: tickets[:1]},
	} {
		add(roleDigest, false, func(s *Set) (string, string, error) { return s.Digest(d) })
	}
	return out
}
