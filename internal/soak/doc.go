// Package soak is the fault and load suite (make soak): the real ticketd
// binary, run as a separate process against a real Dovecot and a real
// Postfix on loopback, takes a generated load of mail while it is killed
// with SIGKILL and restarted, Dovecot is restarted, the relay answers 421
// and then drops connections, and a purge, an erasure and a key rotation
// run; at the end the suite reconciles what the mailbox held, what the
// store holds and what Postfix accepted, prints a table and fails on any
// difference.
//
// It is a test behind TICKETD_SOAK=1 (and TICKETD_INTEROP=1 for the
// servers of mail/mailtest):
//
//	TICKETD_SOAK=1 TICKETD_INTEROP=1 go test -v -count=1 -timeout 60m ./internal/soak \
//		-args -mails 20000 -kills 10 -seed S
//
// The seed decides the load and the moments of the faults, and is printed
// at the start, so that a run can be repeated. Flags: -mails, -kills,
// -seed, -rounds (the load is written in rounds, each as soon as the
// backlog is below two rounds, so the mailbox fills faster than ticketd
// drains it; the faults come between rounds after a seeded pause),
// -settle (how long the end waits for the backlog and the outbox),
// -natural-retry (after the SMTP outage wait for the outbox's own backoff,
// a minute and more, instead of running `ticketd outbox retry` on the
// deferred items as an operator would), -race (build ticketd with -race).
//
// The load: customers writing in German, English, French, Japanese and
// Russian (ISO-8859-1/15, Windows-1251/1252, KOI8-R, Shift_JIS,
// ISO-2022-JP, UTF-8; quoted-printable, base64, 7bit), with a PDF and an
// executable disguised as one, with card numbers and IBANs; the real-world
// mails of the corpus in /work/shared/corpus/zammad (read in place, each
// with a Message-ID of the run); customers' replies to the
// acknowledgements Postfix delivered (In-Reply-To and the [#N] subject);
// the agent's replies to the notifications' reply addresses (answers,
// #close, an altered signature, a genuine address with a forged From);
// out-of-office notices, delivery status notifications and list mail;
// poison mail without a sender.
//
// The store is read through ticketd's commands with -json (tickets list
// page by page, quarantine list, outbox list, status, audit verify) and,
// for each ticket, the tickets.show operation through the daemon's admin
// socket, the path `ticketd tickets show -json N` takes.
package soak
