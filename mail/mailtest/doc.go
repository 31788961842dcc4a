// Package mailtest provides mail servers for tests, in the style of httptest:
// an in-process IMAP server (go-imap's imapmemserver) on 127.0.0.1:0, a TCP
// proxy that injects faults (dropped connections, a server that stops
// answering, new connections answered with a line such as an SMTP 421, or
// closed at once), servers that take only bearer tokens of an oauthtest
// authorization server (MemServer.BearerOnly, SMTPSink.RequireBearer), and,
// for interop runs (TICKETD_INTEROP=1, make interop), private
// Dovecot and Postfix instances on loopback (Dovecot.Restart kills and starts
// Dovecot again on its ports, as a crash and a restart would). Everything registers t.Cleanup.
package mailtest
