package templates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htemplate "html/template"
	"os"
	"path/filepath"
	"slices"
	"strings"
	ttemplate "text/template"
	"time"

	"ticketd/config"
)

//go:embed builtin/*.tmpl
var builtin embed.FS

// langs are the languages there are templates for.
var langs = []string{"de", "en"}

// The parts of one language: the template file's name is
// <role>.<lang>.<ext>.tmpl, and role is the template's name in its set.
const (
	roleAck    = "ack"
	roleNotice = "notice"
	extText    = "txt"
	extHTML    = "html"
)

func fileName(role, lang, ext string) string { return role + "." + lang + "." + ext + ".tmpl" }

// Set is the parsed templates. It is immutable and safe for concurrent use.
type Set struct {
	langs   map[string]*langSet
	consent map[string]*consentSet // the consent page (consent.go)
	agent   map[string]*agentSet   // the mails to agents (agent.go)
}

// langSet is the templates of one language.
type langSet struct {
	lang string
	text *ttemplate.Template // "ack", which includes "notice"
	html *htemplate.Template // likewise
	// where names the file each template came from, by ext and role:
	// "built-in ack.de.txt.tmpl" or the override's path.
	where map[[2]string]string
}

// Ack is what an acknowledgement is rendered from; the templates see its
// fields.
type Ack struct {
	Lang          string // "de" | "en"
	Ticket        uint64
	Subject       string // the customer's subject
	RequesterName string // may be ""
	ResponseTime  time.Duration
	// Due, when set, is when the first answer is due, in the time zone of
	// the queue's business hours: the response time counts only in them.
	Due            time.Time
	ConsentURL     string
	Controller     config.Controller
	Purpose        config.Purpose
	SupportAddress string
	// Redacted are the kinds of data removed from the stored copy of the
	// mail ("card number", "IBAN", the names of [[redact]] rules), sorted;
	// empty when nothing was. The acknowledgement then says so and asks
	// the customer never to send payment data by mail ({{kinds .Redacted}}
	// names them in the template's language).
	Redacted []string
}

// Rendered is one acknowledgement.
type Rendered struct {
	Text, HTML string // the two parts of the mail (text ends with a newline; HTML a full document)
	Notice     string // the notice's text version exactly as included in Text
	NoticeHash string // hex SHA-256 of Notice: proves which notice the customer was shown
}

// Load parses the built-in templates, each replaced by the file of the same
// name in overrideDir if there is one ("" = built-in only). A file there
// ending in .tmpl that is not one of the template names is an error, as a
// misspelt override would otherwise be ignored silently. Every template set
// is then rendered against sample data covering each legal basis, so an
// override that fails to parse, fails to render (a misspelt field), leaves
// out the notice or the consent link, or leaves a config value out of the
// notice is an error naming its file.
func Load(overrideDir string) (*Set, error) {
	overrides := map[string]string{}
	if overrideDir != "" {
		entries, err := os.ReadDir(overrideDir)
		if err != nil {
			return nil, fmt.Errorf("templates: read override directory: %w", err)
		}
		known := knownNames()
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".tmpl") {
				continue
			}
			path := filepath.Join(overrideDir, e.Name())
			if !slices.Contains(known, e.Name()) {
				return nil, fmt.Errorf("templates: %s: not a template name (want one of %s)", path, strings.Join(known, ", "))
			}
			overrides[e.Name()] = path
		}
	}

	s := &Set{langs: map[string]*langSet{}}
	for _, lang := range langs {
		ls, err := parseLang(lang, overrides)
		if err != nil {
			return nil, err
		}
		s.langs[lang] = ls
	}
	for _, a := range samples() {
		r, err := s.Ack(a)
		if err != nil {
			return nil, fmt.Errorf("%w (rendering sample data)", err)
		}
		if err := s.langs[a.Lang].checkSample(a, r); err != nil {
			return nil, err
		}
	}
	if err := s.loadConsent(overrides); err != nil {
		return nil, err
	}
	if err := s.loadAgent(overrides); err != nil {
		return nil, err
	}
	return s, nil
}

func knownNames() []string {
	var names []string
	for _, lang := range langs {
		for _, ext := range []string{extText, extHTML} {
			for _, role := range []string{roleAck, roleNotice} {
				names = append(names, fileName(role, lang, ext))
			}
		}
	}
	names = append(names, consentNames()...)
	return append(names, agentNames()...)
}

// roleNames are the file names of roles with ext in every language.
func roleNames(roles []string, ext string) []string {
	var names []string
	for _, lang := range langs {
		for _, role := range roles {
			names = append(names, fileName(role, lang, ext))
		}
	}
	return names
}

// parseLang parses the text and HTML sets of lang.
func parseLang(lang string, overrides map[string]string) (*langSet, error) {
	ls := &langSet{lang: lang, where: map[[2]string]string{}}
	src := map[[2]string]string{}
	for _, ext := range []string{extText, extHTML} {
		for _, role := range []string{roleAck, roleNotice} {
			text, where, err := source(fileName(role, lang, ext), overrides)
			if err != nil {
				return nil, err
			}
			ls.where[[2]string{ext, role}] = where
			src[[2]string{ext, role}] = text
		}
	}

	ls.text = ttemplate.New(roleAck).Funcs(textFuncs(lang))
	ls.html = htemplate.New(roleAck).Funcs(htmlFuncs(lang))
	// The ack is the root of its set: html/template's New would replace the
	// root, funcs and all, if it were called with the root's name.
	for _, role := range []string{roleAck, roleNotice} {
		key := [2]string{extText, role}
		t := ls.text
		if role != roleAck {
			t = t.New(role)
		}
		if _, err := t.Parse(src[key]); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", ls.where[key], err)
		}
		key = [2]string{extHTML, role}
		h := ls.html
		if role != roleAck {
			h = h.New(role)
		}
		if _, err := h.Parse(src[key]); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", ls.where[key], err)
		}
	}
	return ls, nil
}

func htmlFuncs(lang string) htemplate.FuncMap {
	return htemplate.FuncMap{
		"duration":  func(d time.Duration) string { return Duration(d, lang) },
		"localdate": func(t time.Time) string { return LocalDate(t, lang) },
		"period":    func(p config.Period) string { return Period(p, lang) },
		"kinds":     func(k []string) string { return redactedKinds(k, lang) },
	}
}

func textFuncs(lang string) ttemplate.FuncMap {
	return ttemplate.FuncMap{
		"duration":  func(d time.Duration) string { return Duration(d, lang) },
		"localdate": func(t time.Time) string { return LocalDate(t, lang) },
		"period":    func(p config.Period) string { return Period(p, lang) },
		"kinds":     func(k []string) string { return redactedKinds(k, lang) },
	}
}

// sampleBases are the legal bases in the order the samples take them: each
// pairs with its own variation of the other fields (samples, consentSamples).
var sampleBases = []config.LegalBasis{config.BasisConsent, config.BasisContract, config.BasisLegalObligation,
	config.BasisLegitimateInterest}

// Ack renders the acknowledgement a. The subject and requester name are
// first reduced to what an acknowledgement may repeat (EchoSubject,
// EchoName); a.Lang must be "de" or "en", and a.Ticket, a.ConsentURL and a
// known legal basis must be set.
func (s *Set) Ack(a Ack) (Rendered, error) {
	ls, ok := s.langs[a.Lang]
	switch {
	case !ok:
		return Rendered{}, fmt.Errorf("templates: render acknowledgement: unknown language %q", a.Lang)
	case a.Ticket == 0:
		return Rendered{}, errors.New("templates: render acknowledgement: no ticket number")
	case a.ConsentURL == "":
		return Rendered{}, fmt.Errorf("templates: render acknowledgement for ticket %d: no consent URL", a.Ticket)
	case !a.Purpose.LegalBasis.Valid():
		return Rendered{}, fmt.Errorf("templates: render acknowledgement for ticket %d: purpose %q has unknown legal basis %q",
			a.Ticket, a.Purpose.Name, a.Purpose.LegalBasis)
	}
	a.Subject = EchoSubject(a.Subject)
	a.RequesterName = EchoName(a.RequesterName)

	var r Rendered
	var err error
	if r.Notice, err = ls.exec(extText, roleNotice, a); err != nil {
		return Rendered{}, err
	}
	if r.Text, err = ls.exec(extText, roleAck, a); err != nil {
		return Rendered{}, err
	}
	r.Notice = strings.TrimRight(reflow(r.Notice), "\n") + "\n"
	r.Text = strings.TrimRight(reflow(r.Text), "\n") + "\n"
	htmlNotice, err := ls.exec(extHTML, roleNotice, a)
	if err != nil {
		return Rendered{}, err
	}
	if r.HTML, err = ls.exec(extHTML, roleAck, a); err != nil {
		return Rendered{}, err
	}

	// The hash must prove what the customer read (GDPR Art. 7(1)).
	if strings.TrimSpace(r.Notice) == "" {
		return Rendered{}, fmt.Errorf("templates: %s: the notice is empty", ls.where[[2]string{extText, roleNotice}])
	}
	if strings.TrimSpace(htmlNotice) == "" {
		return Rendered{}, fmt.Errorf("templates: %s: the notice is empty", ls.where[[2]string{extHTML, roleNotice}])
	}
	if !strings.Contains(r.Text, r.Notice) {
		return Rendered{}, fmt.Errorf(`templates: %s: does not include the notice as it is ({{template "notice" .}})`, ls.where[[2]string{extText, roleAck}])
	}
	if !strings.Contains(r.HTML, htmlNotice) {
		return Rendered{}, fmt.Errorf(`templates: %s: does not include the notice as it is ({{template "notice" .}})`, ls.where[[2]string{extHTML, roleAck}])
	}
	sum := sha256.Sum256([]byte(r.Notice))
	r.NoticeHash = hex.EncodeToString(sum[:])
	return r, nil
}

// exec executes the template role of the ext set and names the file of the
// failing template in an error.
func (ls *langSet) exec(ext, role string, a Ack) (string, error) {
	var b bytes.Buffer
	var err error
	if ext == extText {
		err = ls.text.ExecuteTemplate(&b, role, a)
	} else {
		err = ls.html.ExecuteTemplate(&b, role, a)
	}
	if err != nil {
		where, ok := ls.where[[2]string{ext, failedTemplate(err, role)}]
		if !ok {
			where = ls.where[[2]string{ext, role}]
		}
		return "", fmt.Errorf("templates: %s: render ticket %d: %w", where, a.Ticket, err)
	}
	return b.String(), nil
}

// failedTemplate is the name of the template an execution error of role
// happened in: role, or a template it included.
func failedTemplate(err error, role string) string {
	var ee ttemplate.ExecError
	var he *htemplate.Error
	switch {
	case errors.As(err, &ee):
		return ee.Name
	case errors.As(err, &he) && he.Name != "":
		return he.Name
	}
	return role
}

// source reads the template file name: the override in overrides if there
// is one, else the built-in one. where is the override's path or "built-in
// <name>", for errors.
func source(name string, overrides map[string]string) (text, where string, err error) {
	var b []byte
	if path, ok := overrides[name]; ok {
		where = path
		b, err = os.ReadFile(path)
	} else {
		where = "built-in " + name
		b, err = builtin.ReadFile("builtin/" + name)
	}
	if err != nil {
		return "", "", fmt.Errorf("templates: read %s: %w", name, err)
	}
	return string(b), where, nil
}

// checkSample checks what Load can check only against known data: that the
// consent link is in both parts and that the notice names every value from
// the config it must name (GDPR Art. 13).
func (ls *langSet) checkSample(a Ack, r Rendered) error {
	if !strings.Contains(r.Text, a.ConsentURL) {
		return fmt.Errorf("templates: %s: does not include the consent link (.ConsentURL)", ls.where[[2]string{extText, roleAck}])
	}
	if !strings.Contains(r.HTML, `href="`+a.ConsentURL+`"`) {
		return fmt.Errorf(`templates: %s: does not link the consent URL (<a href="{{.ConsentURL}}">)`, ls.where[[2]string{extHTML, roleAck}])
	}
	htmlNotice, err := ls.exec(extHTML, roleNotice, a)
	if err != nil {
		return err
	}
	c, p := a.Controller, a.Purpose
	want := []struct{ field, value string }{
		{".Controller.Name", c.Name}, {".Controller.Address", c.Address}, {".Controller.Email", c.Email},
		{".Controller.Authority", c.Authority},
		{".Purpose.Description", p.Description.In(a.Lang)}, {".Purpose.Required", p.Required.In(a.Lang)},
	}
	if c.DPO != "" { // Art. 13(1)(b): only where one is designated
		want = append(want, struct{ field, value string }{".Controller.DPO", c.DPO})
	}
	if p.LegalBasis == config.BasisLegitimateInterest {
		want = append(want, struct{ field, value string }{".Purpose.LegitimateInterest", p.LegitimateInterest.In(a.Lang)})
	}
	for _, v := range p.Recipients {
		want = append(want, struct{ field, value string }{".Purpose.Recipients", v})
	}
	for _, v := range p.Transfers {
		want = append(want, struct{ field, value string }{".Purpose.Transfers", v})
	}
	for _, n := range []struct{ ext, notice string }{{extText, r.Notice}, {extHTML, htmlNotice}} {
		flat := oneLine(n.notice)
		for _, w := range want {
			if !strings.Contains(flat, w.value) {
				return fmt.Errorf("templates: %s: the notice leaves out %s (GDPR Art. 13)", ls.where[[2]string{n.ext, roleNotice}], w.field)
			}
		}
	}
	return nil
}

// samples are the acknowledgements Load renders every template set with:
// together they take every branch of the built-in templates. Their values
// need no HTML escaping, so checkSample finds them verbatim.
func samples() []Ack {
	ctrl := config.Controller{
		Name:      "Sample Controller GmbH",
		Address:   "Sample Street 1, 12345 Sample City",
		Email:     "privacy@sample.example",
		DPO:       "Sample DPO, dpo@sample.example",
		Authority: "Sample Supervisory Authority, https://authority.example",
	}
	purpose := func(basis config.LegalBasis) config.Purpose {
		return config.Purpose{
			Name:               "sample-" + string(basis),
			Description:        config.Text{DE: "Beispielzweck " + string(basis), EN: "sample purpose " + string(basis)},
			LegalBasis:         basis,
			LegitimateInterest: config.Text{DE: "Beispielinteresse", EN: "sample interest"},
			Retention:          config.Period{Years: 2},
			OnExpiry:           "anonymize",
			Recipients:         []string{"Sample Hosting GmbH (processor)", "Sample Recipient Ltd"},
			Required:           config.Text{DE: "Beispielpflicht", EN: "sample requirement"},
		}
	}
	var out []Ack
	for _, lang := range langs {
		for i, basis := range sampleBases {
			a := Ack{
				Lang:           lang,
				Ticket:         uint64(1000 + i),
				Subject:        "Sample subject",
				RequesterName:  "Sample Requester",
				ResponseTime:   8 * time.Hour,
				ConsentURL:     "https://help.sample.example/consent/sample-token",
				Controller:     ctrl,
				Purpose:        purpose(basis),
				SupportAddress: "support@sample.example",
			}
			switch i % 4 {
			case 0:
				a.Purpose.Retention = config.Period{}
				a.Purpose.OnExpiry = "delete"
				a.Redacted = []string{"IBAN", "card number"}
			case 1:
				a.Controller.DPO = "" // none designated
				a.RequesterName = ""
				a.Subject = ""
				a.SupportAddress = ""
				a.Purpose.Transfers = []string{"Sample Cloud Inc., USA (EU-US Data Privacy Framework)"}
				a.ResponseTime = 36 * time.Hour
			case 2:
				a.Purpose.Retention = config.Period{Days: 90}
				a.Purpose.OnExpiry = "delete"
			case 3:
				a.Purpose.Transfers = []string{"Sample Support Ltd, India (standard contractual clauses)"}
				a.Due = time.Date(2026, 11, 24, 17, 0, 0, 0, time.FixedZone("CET", 3600))
			}
			out = append(out, a)
		}
	}
	return out
}
