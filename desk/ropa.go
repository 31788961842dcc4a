package desk

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"ticketd/config"
	"ticketd/store"
)

// RecordOfProcessing is the record of processing activities (GDPR Art.
// 30(1)) as the configuration in force makes it: the controller, one
// activity per [[purpose]], the processors, the statutory holds and the
// technical and organisational measures ticketd applies (Art. 32).
type RecordOfProcessing struct {
	Controller ControllerInfo `json:"controller"`
	Activities []Activity     `json:"activities"`
	Measures   []Measure      `json:"technical_and_organisational_measures"`
	// AgentCopies are, per agent address, the mails with customers' data
	// ticketd sent to it (notifications, #show, reminders): copies outside
	// the store and beyond its purges, which the controller must reach
	// through those agents. Filled from the store by Desk.Record.
	AgentCopies []AgentCopies `json:"agent_copies"`
}

// AgentCopies are the mails about tickets sent to one agent address.
type AgentCopies struct {
	Agent   string    `json:"agent"`
	Mails   int       `json:"mails"`
	Full    int       `json:"full"` // of them, those with a customer's whole text
	Tickets []uint64  `json:"tickets"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// ControllerInfo is the controller and its data protection officer (Art. 30(1)(a)).
type ControllerInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Email   string `json:"email"`
	// DPO is the data protection officer's contact where one is designated
	// (DPODesignated); otherwise it is left out.
	DPO           string `json:"dpo,omitempty"`
	DPODesignated bool   `json:"dpo_designated"`
	Authority     string `json:"supervisory_authority"`
}

// Activity is the processing for one purpose (Art. 30(1)(b)-(f)).
type Activity struct {
	Purpose     string `json:"purpose"`
	Description Text   `json:"description"`
	// Queues are the queues whose tickets are processed for the purpose.
	Queues             []string `json:"queues"`
	LegalBasis         string   `json:"legal_basis"`
	LegalBasisArticle  string   `json:"legal_basis_article"`
	LegitimateInterest *Text    `json:"legitimate_interest,omitempty"`
	SubjectCategories  []string `json:"subject_categories"`
	DataCategories     []string `json:"data_categories"`
	Recipients         []string `json:"recipients"`
	// Agents are the agents and supervisors of its queues, who get mail
	// with its tickets' data.
	Agents     []string        `json:"agents"`
	Processors []ProcessorInfo `json:"processors"`
	Transfers  []string        `json:"transfers"` // empty: none
	Erasure    ErasureLimits   `json:"erasure"`
}

// ProcessorInfo is a processor under a data processing agreement (Art. 28).
type ProcessorInfo struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Agreement string `json:"agreement"` // date, YYYY-MM-DD
	Location  string `json:"location,omitempty"`
}

// ErasureLimits are the time limits for erasure of one purpose (Art. 30(1)(f)).
type ErasureLimits struct {
	Retention   string `json:"retention"`    // "2y", "90d"
	CountedFrom string `json:"counted_from"` // "closed" | "collected"
	OnExpiry    string `json:"on_expiry"`    // "anonymize" | "delete"
	// ConsentGrace and WithoutConsent apply to a purpose based on consent:
	// how long consent may still be given, and what happens without it.
	ConsentGrace   string     `json:"consent_grace,omitempty"`
	WithoutConsent string     `json:"without_consent,omitempty"`
	Holds          []HoldInfo `json:"holds"`
}

// HoldInfo is a statutory retention category ([[hold]]).
type HoldInfo struct {
	Name           string   `json:"name"`
	Duration       string   `json:"duration"`
	FromYearEnd    bool     `json:"from_year_end"`
	Queues         []string `json:"queues"`
	SubjectPattern string   `json:"subject_pattern,omitempty"`
}

// Measure is one technical or organisational measure (Art. 32).
type Measure struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// legalBasisArticles are the provisions each legal_basis stands for.
var legalBasisArticles = map[config.LegalBasis]string{
	config.BasisConsent:            "Art. 6(1)(a) GDPR",
	config.BasisContract:           "Art. 6(1)(b) GDPR",
	config.BasisLegalObligation:    "Art. 6(1)(c) GDPR",
	config.BasisLegitimateInterest: "Art. 6(1)(f) GDPR",
}

// RecordOf builds the record of processing activities from cfg.
func RecordOf(cfg *config.Config) *RecordOfProcessing {
	c := cfg.Controller
	r := &RecordOfProcessing{
		Controller: ControllerInfo{Name: c.Name, Address: c.Address, Email: c.Email, DPO: c.DPO, DPODesignated: c.DPO != "",
			Authority: c.Authority},
		Activities:  []Activity{},
		Measures:    measures(cfg),
		AgentCopies: []AgentCopies{},
	}
	processors := []ProcessorInfo{}
	for _, p := range cfg.Processors {
		processors = append(processors, ProcessorInfo{Name: p.Name, Role: p.Role, Agreement: p.Agreement, Location: p.Location})
	}
	holds := []HoldInfo{}
	for _, h := range cfg.Holds {
		holds = append(holds, HoldInfo{Name: h.Name, Duration: h.Duration.String(), FromYearEnd: h.YearEnd(),
			Queues: nonNil(h.Queues), SubjectPattern: h.SubjectPattern})
	}
	for i := range cfg.Purposes {
		p := &cfg.Purposes[i]
		info := purposeInfo(p)
		a := Activity{Purpose: p.Name, Description: info.Description, Queues: []string{}, LegalBasis: string(p.LegalBasis),
			LegalBasisArticle: legalBasisArticles[p.LegalBasis], LegitimateInterest: info.LegitimateInterest,
			SubjectCategories: nonNil(p.SubjectCategories), DataCategories: nonNil(p.DataCategories),
			Recipients: info.Recipients, Processors: processors, Transfers: info.Transfers,
			Erasure: ErasureLimits{Retention: info.Retention, CountedFrom: p.CountedFrom, OnExpiry: info.OnExpiry, Holds: holds}}
		if p.LegalBasis == config.BasisConsent {
			a.Erasure.ConsentGrace, a.Erasure.WithoutConsent = p.Grace.String(), p.WithoutConsent
		}
		a.Agents = []string{}
		for _, q := range cfg.Queues {
			if q.Purpose == p.Name {
				a.Queues = append(a.Queues, q.Name)
				for _, ag := range slices.Concat(q.Agents, q.Supervisors) {
					if ag = strings.ToLower(ag); !slices.Contains(a.Agents, ag) {
						a.Agents = append(a.Agents, ag)
					}
				}
			}
		}
		r.Activities = append(r.Activities, a)
	}
	return r
}

// measures are the technical and organisational measures this ticketd
// applies, with the settings of cfg. Each states only what the code does.
func measures(cfg *config.Config) []Measure {
	var transport []string
	for _, b := range cfg.Mailboxes {
		transport = append(transport, fmt.Sprintf("IMAP mailbox %s (%s): %s", b.Name, b.Host, tlsMode(b.TLS)))
	}
	transport = append(transport, fmt.Sprintf("SMTP relay %s: %s", cfg.SMTP.Host, tlsMode(cfg.SMTP.TLS)))
	ack := cfg.Acknowledgement
	return []Measure{
		{"Encryption in transit", strings.Join(transport, "; ") + ". TLS is version 1.2 or later and the server " +
			"certificate is verified (against ca_file where one is configured); the configuration check allows " +
			"turning the check off (tls_verify = false) only for a loopback host. STARTTLS never falls back to " +
			"plain text. A password is never sent unencrypted except to a loopback address: the configuration " +
			"check refuses it."},
		{"Encryption at rest", "Names, addresses, subjects, texts, attachments, consent records and outgoing mail " +
			"are encrypted in the database and in the attachment files with AES-256-GCM under a key per person. " +
			"The person keys are kept in a key file of their own, wrapped by a master key kept outside the data " +
			"directory (master_key_file). Lookups by address, Message-ID or content use keyed hashes " +
			"(HMAC-SHA256), never the value. `ticketd keys rotate` replaces the master key."},
		{"Minimisation before storage", "Before a mail is stored, payment card numbers (Luhn-checked), IBANs " +
			"(mod-97-checked) and the configured [[redact]] patterns are removed from its subject, text, HTML and " +
			"text attachments, for customer mail and agents' answers alike; the message records only how many of " +
			"each kind, and the acknowledgement asks the customer not to send payment data by mail. Of the header " +
			"only the fields a ticket needs are kept" + keptHeaders(cfg) + "; the raw mail is " + keptOriginal(cfg) +
			". Attachments are limited in size and kept or dropped by the type their content shows, never by " +
			"their name; a dropped one is noted on its ticket. Log lines carry no text, subject, token or password " +
			"and mask every mail address."},
		{"Secrets outside the configuration", "Passwords are read from the files named by the `*_file` keys, never " +
			"written in the configuration file (a password key there is an error). The key that signs consent " +
			"links is generated on first start and kept in the data directory; the master key is generated on " +
			"first start with mode 0600 and must be outside the data directory (the check refuses it there)."},
		{"Access to the stored data", "The data directory is created with mode 0700; the database, the attachment " +
			"files and the consent-link key have mode 0600. One ticketd process owns the database (a file lock); " +
			"administrative commands reach it through a unix socket of mode 0600 in the data directory."},
		{"Signed consent links", fmt.Sprintf("Consent links carry a token signed with HMAC-SHA256; a changed, "+
			"forged or expired token is refused. A link is valid for %s.", ack.ConsentLinkValidity)},
		{"Audit trail", "Every change to tickets, messages, people, consent records and outgoing mail appends an " +
			"audit event in the same transaction: who, when, what, on which ticket or person, as identifiers only " +
			"(no names, addresses or text). The trail is append-only and hash-chained (each event carries the " +
			"SHA-256 of the one before); `ticketd audit verify` checks every link and reports the first broken one."},
		{"Import without loss or duplicates", "Each mail is stored with its origin (channel, mailbox, UID, " +
			"UIDVALIDITY, Message-ID, when received and stored) in one transaction with the mailbox's checkpoint; " +
			"only after that commit is it flagged or moved on the server. It is deduplicated on mailbox, " +
			"Message-ID and the SHA-256 of its content, so a crash or a rescan imports nothing twice and loses nothing."},
		{"Quarantine", "Mail that cannot become a ticket (unparseable, over max_message_size, no sender) is kept " +
			"as a quarantine record with its reason, and moved to quarantine_folder where one is configured; it " +
			"never blocks a mailbox and is never dropped. The scheduled purge deletes the record and the stored mail " +
			"after " + cfg.Retention.Quarantine.String() + "."},
		{"Erasure", "After every erasure, offboarding and purge the free pages of the database file are " +
			"overwritten with zeros; attachment files are overwritten before they are removed. `ticketd backup` " +
			"writes compacted copies, which hold only live records and no person keys. Erasing a person deletes " +
			"their key at once and overwrites the key file's free pages (crypto-shredding): their data in every " +
			"older backup can no longer be read once the last key snapshot that held the key has expired " +
			"(`ticketd keys backup` keeps snapshots for " + shortDuration(cfg.Keys.SnapshotKeep.Duration) + "). " + imapErasure(cfg)},
		{"Retention on a schedule", fmt.Sprintf("Each purpose's retention rule is applied by a scheduled purge "+
			"(`%s`); the consent grace period is checked on its own schedule (`%s`). `ticketd purge -dry-run` lists "+
			"what is due.", cfg.Retention.Schedule, cfg.Consent.Schedule)},
		{"Rate limits", fmt.Sprintf("At most %d acknowledgements go to one address per %s, and no automatic "+
			"reply goes to automatic mail, mailing lists, bounces or ticketd's own mail. The consent page answers "+
			"at most %d requests per minute from one client address.", ack.MaxPerSender, shortDuration(ack.Window.Duration), cfg.Consent.RateLimit)},
		{"No tracking on the consent page", "The consent page loads no external resources (no CDN, fonts or " +
			"trackers) and sets no cookie beyond the anti-forgery value its form needs."},
	}
}

// keptHeaders names the header fields keep_headers adds, if any.
func keptHeaders(cfg *config.Config) string {
	if len(cfg.Minimise.KeepHeaders) == 0 {
		return ""
	}
	return " and " + strings.Join(cfg.Minimise.KeepHeaders, ", ")
}

// keptOriginal says whether the raw mail is stored.
func keptOriginal(cfg *config.Config) string {
	if cfg.Minimise.KeepOriginal {
		return "kept (keep_original), encrypted and purged with its message"
	}
	return "not kept"
}

// shortDuration writes d without zero parts: "1h", "90m", "2d".
func shortDuration(d time.Duration) string {
	switch {
	case d != 0 && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d != 0 && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d != 0 && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

func tlsMode(mode string) string {
	switch mode {
	case "implicit":
		return "implicit TLS"
	case "starttls":
		return "STARTTLS (required)"
	}
	return "no encryption (tls = none)"
}

func imapErasure(cfg *config.Config) string {
	if cfg.Retention.EraseIMAPCopies {
		return "An erasure also deletes the person's mail from the IMAP folders it was imported from (erase_imap_copies)."
	}
	return "An erasure lists the copies of the person's mail on the IMAP server for the mail administrator to delete (erase_imap_copies is off)."
}

// WriteJSON writes the record as indented JSON.
func (r *RecordOfProcessing) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the record as a Markdown document.
func (r *RecordOfProcessing) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	c := r.Controller
	b.WriteString("# Record of processing activities (GDPR Art. 30(1))\n\n")
	b.WriteString("Generated by ticketd from the configuration in force.\n\n")
	b.WriteString("## Controller\n\n")
	dpo := c.DPO
	if !c.DPODesignated {
		dpo = "none designated"
	}
	fmt.Fprintf(&b, "- Name: %s\n- Address: %s\n- Contact for data protection: %s\n- Data protection officer: %s\n- Supervisory authority: %s\n",
		c.Name, c.Address, c.Email, dpo, c.Authority)
	for _, a := range r.Activities {
		fmt.Fprintf(&b, "\n## Processing activity: %s\n\n", a.Purpose)
		fmt.Fprintf(&b, "Purpose (de): %s\n\nPurpose (en): %s\n\n", a.Description.DE, a.Description.EN)
		b.WriteString("| | |\n|---|---|\n")
		row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, cell(v)) }
		row("Queues", orNone(strings.Join(a.Queues, ", ")))
		row("Legal basis", a.LegalBasis+" ("+a.LegalBasisArticle+")")
		if li := a.LegitimateInterest; li != nil {
			row("Legitimate interest", "de: "+li.DE+"; en: "+li.EN)
		}
		row("Categories of data subjects", strings.Join(a.SubjectCategories, "; "))
		row("Categories of personal data", strings.Join(a.DataCategories, "; "))
		row("Recipients", strings.Join(a.Recipients, "; "))
		row("Internal recipients (agents and supervisors of its queues)", orNone(strings.Join(a.Agents, ", ")))
		var procs []string
		for _, p := range a.Processors {
			procs = append(procs, processorText(p))
		}
		row("Processors (Art. 28)", orNone(strings.Join(procs, "; ")))
		row("Transfers to third countries", orNone(strings.Join(a.Transfers, "; ")))
		row("Time limit for erasure", erasureText(a.Erasure))
		if a.Erasure.ConsentGrace != "" {
			row("Without consent", fmt.Sprintf("consent may be given within %s of the ticket's creation; without it, or after a withdrawal: %s",
				a.Erasure.ConsentGrace, a.Erasure.WithoutConsent))
		}
		var holds []string
		for _, h := range a.Erasure.Holds {
			holds = append(holds, holdText(h))
		}
		row("Statutory retention (holds)", orNone(strings.Join(holds, "; ")))
	}
	b.WriteString("\n## Copies at agents\n\n")
	if len(r.AgentCopies) == 0 {
		b.WriteString("No mail with customers' data has been sent to agents.\n")
	} else {
		b.WriteString("Mail with customers' data sent to agents' mailboxes, outside ticketd's store and its purges:\n\n")
		b.WriteString("| Agent | Mails | With the whole text | Tickets | First | Last |\n|---|---|---|---|---|---|\n")
		for _, c := range r.AgentCopies {
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s |\n", cell(c.Agent), c.Mails, c.Full, strings.Trim(numberList("", c.Tickets), "()"),
				c.First.UTC().Format(time.DateOnly), c.Last.UTC().Format(time.DateOnly))
		}
	}
	b.WriteString("\n## Technical and organisational measures (Art. 32)\n\n")
	for _, m := range r.Measures {
		fmt.Fprintf(&b, "- **%s.** %s\n", m.Name, m.Description)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func processorText(p ProcessorInfo) string {
	s := fmt.Sprintf("%s, %s, agreement of %s", p.Name, p.Role, p.Agreement)
	if p.Location != "" {
		s += ", processing in " + p.Location
	}
	return s
}

func erasureText(e ErasureLimits) string {
	from := "after the ticket is closed (open tickets are kept)"
	if e.CountedFrom == "collected" {
		from = "after the ticket was created"
	}
	then := "then names, addresses, text and attachments are removed and an anonymous skeleton stays for statistics"
	if e.OnExpiry == "delete" {
		then = "then the ticket is deleted"
	}
	return fmt.Sprintf("%s %s; %s", e.Retention, from, then)
}

func holdText(h HoldInfo) string {
	from := "from when it is set"
	if h.FromYearEnd {
		from = "from the end of the year it is set in"
	}
	var how []string
	if len(h.Queues) > 0 {
		how = append(how, "new tickets of queue "+strings.Join(h.Queues, ", "))
	}
	if h.SubjectPattern != "" {
		how = append(how, "new tickets whose subject matches "+h.SubjectPattern)
	}
	how = append(how, "tickets an admin puts under it")
	return fmt.Sprintf("%s: %s %s, for %s; the ticket is kept unaltered until it ends", h.Name, h.Duration, from, strings.Join(how, ", "))
}

// cell escapes a table cell's pipes and line breaks.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func orNone(s string) string { return cmp.Or(s, "none") }

// Record is the record of processing activities of the configuration in
// force, with the copies at agents that the store records.
func (d *Desk) Record() (*RecordOfProcessing, error) {
	r := RecordOf(d.Config())
	by := map[string]*AgentCopies{}
	err := d.DB.View(func(tx *store.Tx) error {
		// The tickets with copies at agents only, by their index.
		return eachTicketWhere(tx, store.TicketFilter{Notified: true}, func(tk *store.Ticket) bool {
			for _, n := range tk.Notified {
				c := by[n.Agent]
				if c == nil {
					c = &AgentCopies{Agent: n.Agent, First: n.At, Tickets: []uint64{}}
					by[n.Agent] = c
				}
				c.Mails++
				if n.Content == "full" {
					c.Full++
				}
				if !slices.Contains(c.Tickets, tk.Number) {
					c.Tickets = append(c.Tickets, tk.Number)
				}
				if n.At.Before(c.First) {
					c.First = n.At
				}
				if n.At.After(c.Last) {
					c.Last = n.At
				}
			}
			return true
		})
	})
	if err != nil {
		return nil, err
	}
	for _, a := range slices.Sorted(maps.Keys(by)) {
		r.AgentCopies = append(r.AgentCopies, *by[a])
	}
	return r, nil
}
