package config

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Each legal_basis decodes to its constant, and the purpose-specific
// defaults follow it: grace and without_consent only for consent.
func TestLegalBasisDecodes(t *testing.T) {
	if len(LegalBases) != 4 {
		t.Fatalf("LegalBases = %v", LegalBases)
	}
	for _, basis := range LegalBases {
		t.Run(string(basis), func(t *testing.T) {
			line := `legal_basis = "` + string(basis) + `"`
			if basis == BasisLegitimateInterest {
				line += "\n" + `legitimate_interest = { de = "Anfragen beantworten", en = "Answering enquiries" }`
			}
			cfg := edit(t, minimal, `legal_basis = "contract"`, line)
			c, _ := load(t, cfg, map[string]string{"imap.pass": "secret\n"})
			p := c.Purposes[0]
			if p.LegalBasis != basis || !p.LegalBasis.Valid() {
				t.Errorf("legal_basis = %q (valid %v), want %q", p.LegalBasis, p.LegalBasis.Valid(), basis)
			}
			if consent := basis == BasisConsent; (p.WithoutConsent == "restrict") != consent || (p.Grace.Duration > 0) != consent {
				t.Errorf("%s: without_consent %q, grace %v", basis, p.WithoutConsent, p.Grace)
			}
		})
	}
}

// A value that is no legal basis (case matters) is reported at its
// position with the four that are, and the configuration is refused.
func TestLegalBasisUnknown(t *testing.T) {
	for _, bad := range []string{"Consent", "consent ", "legitimate interest", "vital_interest"} {
		if LegalBasis(bad).Valid() {
			t.Errorf("%q is valid", bad)
		}
		dir := t.TempDir()
		cfg := strings.Replace(minimal, `legal_basis = "contract"`, `legal_basis = "`+bad+`"`, 1)
		writeFiles(t, dir, map[string]string{"config.toml": cfg, "imap.pass": "secret\n"})
		c, err := Load(filepath.Join(dir, "config.toml"))
		var errs Errors
		if c != nil || !errors.As(err, &errs) {
			t.Fatalf("%q: Load = %v, %v", bad, c, err)
		}
		line := 1 + strings.Count(cfg[:strings.Index(cfg, "legal_basis")], "\n")
		want := filepath.Join(dir, "config.toml") + ":" + strconv.Itoa(line) + ":1: purpose[1].legal_basis: must be one of " +
			`"consent", "contract", "legitimate_interest", "legal_obligation", got "` + bad + `"`
		if got := errs.Error(); got != want {
			t.Errorf("%q:\n got %s\nwant %s", bad, got, want)
		}
	}
}
