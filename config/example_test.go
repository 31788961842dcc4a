package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const exampleFile = "../config.example.toml"

// TestExample loads config.example.toml as shipped, next to the secret files
// it names, and checks that it is valid and that the defaults it leaves out
// are applied.
func TestExample(t *testing.T) {
	example, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("config.example.toml", example)
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	files := map[string]string{"config.toml": string(example)}
	for _, f := range []string{c.SMTP.PasswordFile, c.Mailboxes[0].PasswordFile} {
		files[f] = "secret\n"
	}
	dir := t.TempDir()
	writeFiles(t, dir, files)
	c, err = Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	if len(c.Warnings) > 0 {
		t.Errorf("config.example.toml has warnings:\n%v", c.Warnings)
	}
	m := c.Mailbox("support")
	switch {
	case m == nil || c.Queue("support") == nil:
		t.Fatalf("no mailbox or queue named support: %+v", c)
	case m.Password != "secret" || c.SMTP.Password != "secret":
		t.Errorf("passwords %q, %q; want both \"secret\"", m.Password, c.SMTP.Password)
	case c.Server.DataDir != "/var/lib/ticketd" || c.Server.Language != "en" || c.SMTP.Port != 587:
		t.Errorf("server or smtp defaults not applied: %+v %+v", c.Server, c.SMTP)
	case m.Port != 993 || m.Folder != "INBOX" || m.AfterImport != "seen" || m.BatchSize != 200 ||
		m.MaxMessageSize != 64<<20 || m.PollInterval.Duration != time.Minute || !m.UseIDLE():
		t.Errorf("mailbox defaults not applied: %+v", m)
	}
	if a := c.Acknowledgement; !a.On() || a.MaxPerSender != 5 || a.Window.Duration != time.Hour ||
		a.ConsentLinkValidity.Duration != 90*24*time.Hour || c.SMTP.RetryFor.Duration != 48*time.Hour {
		t.Errorf("acknowledgement or retry_for defaults not applied: %+v, %v", a, c.SMTP.RetryFor)
	}
	if c.Controller.Name != "Beispiel GmbH" || c.Controller.Email != "datenschutz@example.com" {
		t.Errorf("controller = %+v", c.Controller)
	}
	// product_feedback is named by no queue, which is allowed.
	support, feedback := c.Purpose(c.Queue("support").Purpose), c.Purpose("product_feedback")
	switch {
	case support == nil || feedback == nil:
		t.Fatalf("purposes support and product_feedback: %+v", c.Purposes)
	case support.LegalBasis != "contract" || support.Retention != (Period{Years: 2}) || support.OnExpiry != "anonymize" ||
		support.Description.DE == "" || support.Required.EN == "" || support.Transfers == nil:
		t.Errorf("purpose support = %+v", support)
	case feedback.LegalBasis != "consent" || feedback.Retention != (Period{Years: 1}) || feedback.OnExpiry != "delete":
		t.Errorf("purpose product_feedback = %+v", feedback)
	}
}

// commentedKey matches a key the example shows commented out: "# port = 993",
// "# legitimate_interest.de = ...".
var commentedKey = regexp.MustCompile(`(?m)^# ([a-z_.]+ = )`)

// TestExampleDocumentsEveryKey uncomments every commented-out key of
// config.example.toml and checks that the result is valid and names every
// key of the schema in the order of types.go, each preceded by a comment.
// Unknown keys would fail the parse. legitimate_interest is only valid with
// that legal basis, so the first [[purpose]] is switched to it.
func TestExampleDocumentsEveryKey(t *testing.T) {
	example, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	full := commentedKey.ReplaceAll(example, []byte("$1"))
	full = bytes.Replace(full, []byte(`legal_basis = "contract"`), []byte(`legal_basis = "legitimate_interest"`), 1)
	c, d := parse("full.toml", full)
	if c == nil || len(d.errs) > 0 {
		t.Fatalf("uncommented example is invalid:\n%v", d.errs)
	}
	lines := strings.Split(string(full), "\n")
	// grace and without_consent are only valid for a consent purpose: the second.
	consentOnly := []string{"grace", "without_consent"}
	for _, table := range []struct {
		path string
		v    any
		only []string // when set, only these keys are checked
		skip []string
	}{
		{"server", Server{}, nil, nil}, {"controller", Controller{}, nil, nil}, {"smtp", SMTP{}, nil, nil},
		{"acknowledgement", Acknowledgement{}, nil, nil}, {"queue[1]", Queue{}, nil, nil}, {"queue[1].business_hours", BusinessHours{}, nil, nil}, {"route[1]", Route{}, nil, nil}, {"mailbox[1]", Mailbox{}, nil, nil}, {"mailbox[1].oauth", OAuth{}, nil, nil},
		{"purpose[1]", Purpose{}, nil, consentOnly}, {"purpose[2]", Purpose{}, consentOnly, nil},
		{"hold[1]", Hold{}, nil, nil}, {"processor[1]", Processor{}, nil, nil},
		{"retention", Retention{}, nil, nil}, {"consent", Consent{}, nil, nil},
		{"agents", Agents{}, nil, nil}, {"keys", Keys{}, nil, nil}, {"redact[1]", RedactRule{}, nil, nil}, {"minimise", Minimise{}, nil, nil}, {"attachments", Attachments{}, nil, nil},
		{"lmtp", LMTP{}, nil, nil},
	} {
		typ := reflect.TypeOf(table.v)
		prev := 0
		for i := range typ.NumField() {
			key := typ.Field(i).Tag.Get("toml")
			if key == "-" || key == "" || slices.Contains(table.skip, key) || table.only != nil && !slices.Contains(table.only, key) {
				continue
			}
			path := join(table.path, key)
			at, ok := d.pos[path]
			switch {
			case !ok:
				t.Errorf("config.example.toml does not show %s", path)
			case at.line < prev:
				t.Errorf("config.example.toml:%d: %s is not in the order of types.go", at.line, path)
			case at.line < 2 || !strings.HasPrefix(lines[at.line-2], "#"):
				t.Errorf("config.example.toml:%d: %s has no comment above it", at.line, path)
			}
			prev = max(prev, at.line)
		}
	}
}
