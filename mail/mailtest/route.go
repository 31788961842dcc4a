package mailtest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// StartPostfixInto starts a Postfix like StartPostfix, except that mail to one of addrs,
// or to a subaddress of one (recipient_delimiter is "+": "support+t1.a2.x@example.com"
// is "support@example.com"'s), is delivered into the INBOX of d's user, as a mail server
// in front of an IMAP store would: Postfix writes it into the Maildir that Dovecot serves
// (new/, owned by nobody like Dovecot's mail), and Dovecot announces it to IDLE clients.
// Mail to any other address lands in the sink's Maildir as before (Messages, WaitMessages).
//
// The addresses are matched without regard to case. Same skip/fail rule as StartPostfix.
func StartPostfixInto(t testing.TB, d *Dovecot, addrs ...string) *Postfix {
	t.Helper()
	inbox := filepath.Join(d.Dir, "mail", d.Username, "Maildir") + "/"
	return startPostfix(t, func(dir string) string {
		var table strings.Builder
		for _, a := range addrs {
			local, domain, ok := strings.Cut(strings.ToLower(a), "@")
			if !ok || local == "" || strings.ContainsAny(a, " \t\r\n/+") {
				t.Fatalf("mailtest: StartPostfixInto: %q is no plain address", a)
			}
			table.WriteString("/^" + regexp.QuoteMeta(local) + `(\+.*)?@` + regexp.QuoteMeta(domain) + "$/ " + inbox + "\n")
		}
		table.WriteString("/./ " + filepath.Join(dir, "Maildir") + "/\n")
		srvWriteFile(t, filepath.Join(dir, "etc", "vmailbox"), []byte(table.String()), 0o644)
		// One regexp table, tried in order, so that a subaddress is matched before the
		// catch-all (Postfix looks the full address up in every map before it strips the
		// extension). Its paths are absolute, so the base is the root.
		return "\n# StartPostfixInto: some addresses go to a Dovecot Maildir\n" +
			"recipient_delimiter = +\n" +
			"virtual_mailbox_base = /\n" +
			"virtual_mailbox_maps = regexp:" + filepath.Join(dir, "etc", "vmailbox") + "\n"
	})
}
