package config

import "testing"

// A controller that designated no data protection officer leaves dpo out
// (GDPR Art. 13(1)(b) asks for the DPO's contact only where there is one);
// the configuration loads with DPO "".
func TestWithoutDPO(t *testing.T) {
	without := edit(t, minimal, "dpo = \"dsb@example.com\"\n", "")
	c, _ := load(t, without, map[string]string{"imap.pass": "secret\n"})
	if c.Controller.DPO != "" {
		t.Errorf("DPO = %q, want none", c.Controller.DPO)
	}
}
