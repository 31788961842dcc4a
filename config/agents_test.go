package config_test

import (
	"strings"
	"testing"

	"ticketd/config"
	"ticketd/config/configtest"
)

func TestAgentAddressChecks(t *testing.T) {
	text := configtest.Text(t, `
[[queue]]
name = "support"
purpose = "support"
response_time = "1d"
agents = ["SUPPORT@example.com", "anna@example.com"]
supervisors = ["support@example.com"]
`)
	_, err := config.Parse("test.toml", []byte(text))
	if err == nil {
		t.Fatal("an agent with ticketd's own address was accepted")
	}
	for _, want := range []string{
		`queue[1].agents[1]: "SUPPORT@example.com" is ticketd's own address (mailbox[1].address)`,
		`queue[1].supervisors[1]: "support@example.com" is ticketd's own address (mailbox[1].address)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors:\n%v\nwant %q", err, want)
		}
	}

	long := strings.Replace(configtest.Text(t, `
[[queue]]
name = "support"
purpose = "support"
response_time = "1d"
agents = ["anna@example.com"]
`), "address = 'support@example.com'", "address = 'customer-service-and-support-desk@example.com'", 1)
	c, err := config.Parse("test.toml", []byte(long))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) == 0 {
		t.Fatalf("no warning for a long mailbox address in:\n%s", long)
	}
	if w := c.Warnings.Error(); !strings.Contains(w, "warning: mailbox[1].address: the local part \"customer-service-and-support-desk\" is longer than 27") {
		t.Errorf("warnings: %q", w)
	}
}
