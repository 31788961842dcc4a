package config

import (
	"strings"
	"testing"
)

// A controller that designated no data protection officer leaves dpo out
// (GDPR Art. 13(1)(b) asks for the DPO's contact only where there is one);
// the configuration loads with DPO "".
func TestWithoutDPO(t *testing.T) {
	without := strings.Replace(minimal, "dpo = \"dsb@example.com\"\n", "", 1)
	if without == minimal {
		t.Fatal("the minimal configuration has no dpo line to remove")
	}
	c, _ := load(t, without, map[string]string{"imap.pass": "secret\n"})
	if c.Controller.DPO != "" {
		t.Errorf("DPO = %q, want none", c.Controller.DPO)
	}
}
