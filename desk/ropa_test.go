package desk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ticketd/config"
)

// exampleConfig loads config.example.toml as shipped, next to the secret
// files it names.
func exampleConfig(t *testing.T) *config.Config {
	t.Helper()
	example, err := os.ReadFile("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("config.example.toml", example)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{"config.toml": example, c.SMTP.PasswordFile: []byte("secret\n")}
	for _, m := range c.Mailboxes {
		files[m.PasswordFile] = []byte("secret\n")
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRecordOfProcessingGolden(t *testing.T) {
	r := RecordOf(exampleConfig(t))
	var md, js bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "ropa.md", md.String())
	golden(t, "ropa.json", js.String())

	// The JSON reads back into the same record.
	var back RecordOfProcessing
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Activities) != 2 || back.Activities[1].Erasure.ConsentGrace != "14d" || back.Controller.DPO == "" {
		t.Errorf("record read back = %+v", back)
	}
}

// TestRecordOfProcessingFollowsConfig checks that what the record says comes
// from the configuration in force, not from fixed text.
func TestRecordOfProcessingFollowsConfig(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.Purposes[0].LegalBasis = "legitimate_interest"
	cfg.Purposes[0].LegitimateInterest = config.Text{DE: "Betrugsabwehr", EN: "fraud prevention"}
	cfg.Purposes[0].Transfers = []string{"Example Inc., USA (standard contractual clauses)"}
	cfg.Purposes[0].CountedFrom = "collected"
	cfg.Processors = append(cfg.Processors, config.Processor{Name: "Remote GmbH", Role: "remote maintenance", Agreement: "2025-01-02", Location: "Austria"})
	cfg.Mailboxes[0].TLS = "starttls"
	cfg.Retention.EraseIMAPCopies = true
	cfg.Acknowledgement.MaxPerSender = 9
	cfg.Holds[0].Queues = []string{"support"}
	var md bytes.Buffer
	if err := RecordOf(cfg).WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"legitimate_interest (Art. 6(1)(f) GDPR)", "de: Betrugsabwehr; en: fraud prevention",
		"Example Inc., USA (standard contractual clauses)", "2y after the ticket was created",
		"Remote GmbH, remote maintenance, agreement of 2025-01-02, processing in Austria",
		"IMAP mailbox support (imap.example.com): STARTTLS (required)", "also deletes the person's mail from the IMAP folders",
		"At most 9 acknowledgements", "new tickets of queue support", `subject matches \b(auftrag\|order\|vertrag\|contract)\b`,
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("record lacks %q:\n%s", want, md.String())
		}
	}
}

// A controller without a data protection officer: the record says none is
// designated, and its JSON says so without a dpo field.
func TestRecordOfProcessingWithoutDPO(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.Controller.DPO = ""
	r := RecordOf(cfg)
	var md, js bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "ropa-no-dpo.md", md.String())
	golden(t, "ropa-no-dpo.json", js.String())
	if !strings.Contains(md.String(), "- Data protection officer: none designated\n") {
		t.Errorf("the Markdown does not say that no DPO is designated:\n%s", md.String())
	}
	if strings.Contains(js.String(), `"dpo":`) || !strings.Contains(js.String(), `"dpo_designated": false`) {
		t.Errorf("JSON:\n%s", js.String())
	}
}
