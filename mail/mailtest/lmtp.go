package mailtest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// StartPostfixLMTP starts a Postfix like StartPostfix, except that mail to one of addrs,
// or to a subaddress of one ("support+t1.a2.x@example.com"), is delivered over LMTP to the
// unix socket at socket (transport_maps: "lmtp:unix:SOCKET"), as a mail server in front of
// ticketd's [lmtp] listener would. Postfix's lmtp client runs as the postfix user: the socket
// must be writable by it (group postfix, mode 0660) and its directory searchable. Mail to any
// other address lands in the sink's Maildir as before (Messages, WaitMessages).
//
// The addresses are matched without regard to case. Same skip/fail rule as StartPostfix.
func StartPostfixLMTP(t testing.TB, socket string, addrs ...string) *Postfix {
	t.Helper()
	return startPostfix(t, func(dir string) string {
		var table strings.Builder
		for _, a := range addrs {
			local, domain, ok := strings.Cut(strings.ToLower(a), "@")
			if !ok || local == "" || strings.ContainsAny(a, " \t\r\n/+") {
				t.Fatalf("mailtest: StartPostfixLMTP: %q is no plain address", a)
			}
			table.WriteString("/^" + regexp.QuoteMeta(local) + `(\+.*)?@` + regexp.QuoteMeta(domain) + "$/ lmtp:unix:" + socket + "\n")
		}
		srvWriteFile(t, filepath.Join(dir, "etc", "transport"), []byte(table.String()), 0o644)
		return "\n# StartPostfixLMTP: some addresses go to an LMTP socket\n" +
			"recipient_delimiter = +\n" +
			"transport_maps = regexp:" + filepath.Join(dir, "etc", "transport") + "\n" +
			"lmtp_destination_concurrency_limit = 4\n"
	})
}
