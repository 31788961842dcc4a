package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	gosmtp "github.com/emersion/go-smtp"

	"ticketd/desk"
	"ticketd/mail"
	"ticketd/mail/imapmem"
	"ticketd/store"
)

// The demo runs the real daemon against embedded servers: an IMAP server
// holding the support mailbox and an SMTP server that files mail for the
// support address into it (as a mail provider would) and keeps everything else.

const (
	demoSupport = "support@demo.example"
	demoUser    = "support"
	demoPass    = "demo-password"
)

func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("ticketd demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	duration := fs.Duration("for", 0, "stop after this long (default: run until Ctrl-C)")
	keep := fs.Bool("keep", false, "keep the temporary data directory")
	verbose := fs.Bool("v", false, "print the daemon's log")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	dir, err := os.MkdirTemp("", "ticketd-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}

	imapAddr, user, stopIMAP, err := demoIMAP()
	if err != nil {
		return err
	}
	defer stopIMAP()
	smtpSrv, smtpAddr, err := demoSMTP(user)
	if err != nil {
		return err
	}
	defer smtpSrv.srv.Close()

	httpAddr, err := freeAddr("127.0.0.1:8080")
	if err != nil {
		return err
	}
	cfgPath, err := writeDemoConfig(dir, imapAddr, smtpAddr, httpAddr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return err
	}
	logTo := io.Discard
	if *verbose {
		logTo = e.stderr
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := startDaemon(cfg, log, nil)
	if err != nil {
		return err
	}

	out := e.stdout
	fmt.Fprintf(out, "ticketd demo\n\n")
	fmt.Fprintf(out, "  data dir     %s\n  config       %s\n  IMAP server  %s (user %s, password %s)\n  SMTP server  %s (mail to %s lands in the IMAP inbox)\n  health       http://%s/healthz\n\n",
		dir, cfgPath, imapAddr, demoUser, demoPass, smtpAddr, demoSupport, httpAddr)
	fmt.Fprintf(out, "Each acknowledgement carries a link to the consent page on http://%s/consent/...; open it in a browser.\n\n", httpAddr)
	// Mail that is in the mailbox before ticketd first reads it gets no
	// acknowledgement (it is old mail), so seed once the mailbox is connected.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
		if st := d.status(); len(st) > 0 && st[0].Connected {
			break
		}
	}
	fmt.Fprintf(out, "Seeding four mails over SMTP: German, English, a reply to the German one, and a broken one.\n\n")
	if err := seedDemo(smtpAddr); err != nil {
		d.stop()
		return err
	}

	w := &demoWatcher{db: d.db, out: out, mta: smtpSrv, dir: dir}
	w.waitFor(ctx, 4, 10*time.Second)
	w.waitAcks(ctx, 2, 10*time.Second)
	w.print()
	fmt.Fprintf(out, "\nSend more mail with any SMTP client, for example:\n")
	fmt.Fprintf(out, "  swaks --server %s --from you@example.org --to %s --header 'Subject: Hallo' --body 'Mein Drucker brennt.'\n", smtpAddr, demoSupport)
	fmt.Fprintf(out, "or put it into the IMAP inbox with any mail client (IMAP %s, plain, user %s, password %s).\n", imapAddr, demoUser, demoPass)
	fmt.Fprintf(out, "In another terminal: ticketd tickets list -config %s\n", cfgPath)
	if *duration == 0 {
		fmt.Fprintf(out, "Press Ctrl-C to stop.\n")
	}
	fmt.Fprintln(out)

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping")
			return d.stop()
		case <-tick.C:
			w.print()
		}
	}
}

func demoIMAP() (addr string, user *imapmemserver.User, stop func(), err error) {
	srv, err := imapmem.New(demoUser, demoPass, []string{"INBOX", "Processed", "Quarantine"}, nil, nil)
	if err != nil {
		return "", nil, nil, err
	}
	ln, err := listenPreferred("127.0.0.1:1143")
	if err != nil {
		return "", nil, nil, err
	}
	srv.Serve(ln)
	return ln.Addr().String(), srv.User, func() { srv.Close() }, nil
}

// freeAddr is addr when it is free, else a free port on the same host.
func freeAddr(addr string) (string, error) {
	ln, err := listenPreferred(addr)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// listenPreferred listens on addr, or on a free port of the same host when addr is taken.
func listenPreferred(addr string) (net.Listener, error) {
	if ln, err := net.Listen("tcp", addr); err == nil {
		return ln, nil
	}
	host, _, _ := net.SplitHostPort(addr)
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// demoMTA files mail for the support address into the IMAP inbox and keeps the rest.
type demoMTA struct {
	srv  *gosmtp.Server
	user *imapmemserver.User

	mu   sync.Mutex
	sent [][]byte // mail to anyone else (what ticketd sends)
}

func demoSMTP(user *imapmemserver.User) (*demoMTA, string, error) {
	m := &demoMTA{user: user}
	m.srv = gosmtp.NewServer(m)
	m.srv.Domain = "localhost"
	m.srv.MaxMessageBytes = 64 << 20
	m.srv.ReadTimeout = time.Minute
	m.srv.WriteTimeout = time.Minute
	ln, err := listenPreferred("127.0.0.1:2525")
	if err != nil {
		return nil, "", err
	}
	go m.srv.Serve(ln)
	return m, ln.Addr().String(), nil
}

func (m *demoMTA) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &demoSession{mta: m}, nil }

func (m *demoMTA) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sent)
}

// since returns the mails received after the first n.
func (m *demoMTA) since(n int) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.sent[n:]...)
}

type demoSession struct {
	mta *demoMTA
	to  []string
}

func (s *demoSession) Reset()                                 { s.to = nil }
func (s *demoSession) Logout() error                          { return nil }
func (s *demoSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *demoSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *demoSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, to := range s.to {
		if strings.EqualFold(to, demoSupport) {
			_, err := s.mta.user.Append("INBOX", &literal{bytes.NewReader(raw)}, &imap.AppendOptions{Time: time.Now()})
			if err != nil {
				return err
			}
			continue
		}
		s.mta.mu.Lock()
		s.mta.sent = append(s.mta.sent, raw)
		s.mta.mu.Unlock()
	}
	return nil
}

type literal struct{ *bytes.Reader }

func (l *literal) Size() int64 { return l.Reader.Size() }

func writeDemoConfig(dir, imapAddr, smtpAddr, httpAddr string) (string, error) {
	if err := os.WriteFile(filepath.Join(dir, "imap.pass"), []byte(demoPass+"\n"), 0o600); err != nil {
		return "", err
	}
	ih, ip, _ := net.SplitHostPort(imapAddr)
	sh, sp, _ := net.SplitHostPort(smtpAddr)
	cfg := fmt.Sprintf(`# Written by ticketd demo; see config.example.toml for every key.
[server]
data_dir = "data"
http_listen = %q
public_url = "http://%s"
language = "de"

[smtp]
host = %q
port = %s
tls = "none"
from = %q

[[queue]]
name = "support"
purpose = "support"
response_time = "8h"

[[mailbox]]
name = "support"
address = %q
host = %q
port = %s
tls = "none"
username = %q
password_file = "imap.pass"
after_import = "move"
move_to = "Processed"
quarantine_folder = "Quarantine"
queue = "support"
`+demoNotice, httpAddr, httpAddr, sh, sp, demoSupport, demoSupport, ih, ip, demoUser)
	path := filepath.Join(dir, "config.toml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// demoNotice is what the transparency notice is filled from.
const demoNotice = `
[controller]
name = "Beispiel GmbH"
address = "Musterstraße 1, 10115 Berlin"
email = "datenschutz@demo.example"
dpo = "Dr. Erika Muster, dsb@demo.example"
authority = "Berliner Beauftragte für Datenschutz und Informationsfreiheit, Alt-Moabit 59-61, 10555 Berlin"

[[purpose]]
name = "support"
description.de = "Bearbeitung Ihrer Support-Anfrage"
description.en = "Handling your support request"
legal_basis = "contract"
retention = "2y"
recipients = ["Demo Hosting GmbH (E-Mail-Hosting, Auftragsverarbeiter)"]
transfers = []
required.de = "Ohne Ihre E-Mail-Adresse können wir Ihnen nicht antworten."
required.en = "Without your email address we cannot answer you."

[[purpose]]
name = "product_feedback"
description.de = "Auswertung Ihrer Rückmeldung, um unsere Produkte zu verbessern"
description.en = "Evaluating your feedback to improve our products"
legal_basis = "consent"
retention = "1y"
on_expiry = "delete"
recipients = ["Demo Hosting GmbH (E-Mail-Hosting, Auftragsverarbeiter)"]
transfers = []
required.de = "Freiwillig. Ohne Ihre Einwilligung bearbeiten wir Ihre Anfrage genauso, werten sie aber nicht für die Produktentwicklung aus."
required.en = "Voluntary. Without your consent we handle your request just the same, but do not use it for product development."
`

var demoMails = []struct{ from, to, raw string }{
	{"joerg@example.org", demoSupport, "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.org>\r\n" +
		"To: Support <" + demoSupport + ">\r\nSubject: =?UTF-8?Q?Drucker_druckt_nicht_=E2=80=93_bitte_helfen?=\r\n" +
		"Message-ID: <demo-de-1@example.org>\r\nContent-Language: de\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Guten Tag,\r\n\r\nunser Drucker im 2. Stock druckt seit heute fr=FCh nicht mehr.\r\n\r\nGr=FC=DFe\r\nJ=F6rg\r\n"},
	{"ann@example.com", demoSupport, "From: Ann Smith <ann@example.com>\r\nTo: " + demoSupport + "\r\n" +
		"Subject: Cannot log in to the portal\r\nMessage-ID: <demo-en-1@example.com>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Hello,\r\n\r\nsince this morning the portal says my password is wrong. Screenshot attached.\r\n\r\nAnn\r\n" +
		"--b1\r\nContent-Type: text/plain; name=\"error.txt\"\r\nContent-Disposition: attachment; filename=\"error.txt\"\r\n\r\n" +
		"Error 403: account locked\r\n--b1--\r\n"},
	{"joerg@example.org", demoSupport, "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.org>\r\n" +
		"To: " + demoSupport + "\r\nSubject: Re: Drucker druckt nicht\r\nMessage-ID: <demo-de-2@example.org>\r\n" +
		"In-Reply-To: <demo-de-1@example.org>\r\nReferences: <demo-de-1@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nNachtrag: Das Display zeigt \"Fehler 42\".\r\n"},
	{"broken@example.net", demoSupport, "this line is no header at all\r\n\x00\x01\x02 and neither is this\r\n"},
}

func seedDemo(smtpAddr string) error {
	for _, m := range demoMails {
		if err := smtp.SendMail(smtpAddr, nil, m.from, []string{m.to}, []byte(m.raw)); err != nil {
			return fmt.Errorf("seed demo mail: %w", err)
		}
	}
	return nil
}

// demoWatcher prints tickets, messages, quarantine records and the
// acknowledgements sent, as they appear.
type demoWatcher struct {
	db         *store.DB
	out        io.Writer
	mta        *demoMTA
	dir        string
	messages   map[uint64]bool
	quarantine map[uint64]bool
	acks       int
}

// waitAcks waits until the relay received n mails, or timeout.
func (w *demoWatcher) waitAcks(ctx context.Context, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for w.mta.count() < n && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
}

// printAcks prints each mail the relay received since the last call and
// saves it in the data directory.
func (w *demoWatcher) printAcks() {
	for _, raw := range w.mta.since(w.acks) {
		w.acks++
		msg, err := mail.Parse(bytes.NewReader(raw), discardBlobs{}, mail.ParseOptions{})
		if err != nil {
			continue
		}
		saved := filepath.Join(w.dir, fmt.Sprintf("sent-%d.eml", w.acks))
		if err := os.WriteFile(saved, raw, 0o600); err != nil {
			saved = "not saved: " + err.Error()
		}
		to := ""
		if len(msg.To) > 0 {
			to = msg.To[0].Email
		}
		fmt.Fprintf(w.out, "  %s  acknowledgement sent to %s (%s)\n      subject %q, with the privacy notice (Art. 13 GDPR) and a consent link\n      saved as %s\n",
			time.Now().Format(time.TimeOnly), to, msg.ContentLanguage, msg.Subject, saved)
		if link, ticket := consentLink(msg.Text), demoTicketTag.FindStringSubmatch(msg.Subject); link != "" && ticket != nil {
			fmt.Fprintf(w.out, "      consent page for ticket #%s: %s\n", ticket[1], link)
		}
	}
}

var (
	demoTicketTag  = regexp.MustCompile(`\[#(\d+)\]`)
	demoConsentURL = regexp.MustCompile(`https?://\S+/consent/[A-Za-z0-9_.-]+`)
)

// consentLink is the consent page's URL in an acknowledgement's text.
func consentLink(text string) string { return demoConsentURL.FindString(text) }

// discardBlobs hashes nothing and keeps nothing: the demo only reads headers.
type discardBlobs struct{}

func (discardBlobs) Put(r io.Reader) (string, int64, error) {
	n, err := io.Copy(io.Discard, r)
	return strings.Repeat("0", 64), n, err
}

func (w *demoWatcher) count() int {
	tks, _ := desk.ListTickets(w.db)
	qs, _ := desk.ListQuarantine(w.db)
	n := len(qs)
	for _, t := range tks {
		n += t.Messages
	}
	return n
}

// waitFor waits until n mails have been handled, or timeout.
func (w *demoWatcher) waitFor(ctx context.Context, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for w.count() < n && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *demoWatcher) print() {
	if w.messages == nil {
		w.messages, w.quarantine = map[uint64]bool{}, map[uint64]bool{}
	}
	tks, err := desk.ListTickets(w.db)
	if err != nil {
		fmt.Fprintln(w.out, "demo:", err)
		return
	}
	for _, t := range tks {
		d, err := desk.ShowTicket(w.db, t.Number)
		if err != nil {
			continue
		}
		for _, m := range d.Messages {
			if w.messages[m.ID] {
				continue
			}
			w.messages[m.ID] = true
			what := fmt.Sprintf("new ticket #%d", t.Number)
			if m.ThreadedBy != "" {
				what = fmt.Sprintf("reply added to ticket #%d (threaded by %s)", t.Number, m.ThreadedBy)
			}
			fmt.Fprintf(w.out, "  %s  %s\n      from %s, subject %q, %d attachment(s)\n      origin: %s, mailbox %s, uid %d, Message-ID <%s>\n",
				m.Origin.StoredAt.Local().Format(time.TimeOnly), what, formatPerson(desk.Person{Email: m.From.Email, Name: m.From.Name}), m.Subject,
				len(m.Attachments), m.Origin.Channel, m.Origin.Mailbox, m.Origin.UID, m.Origin.MessageID)
		}
	}
	defer w.printAcks()
	qs, _ := desk.ListQuarantine(w.db)
	for _, q := range qs {
		if w.quarantine[q.ID] {
			continue
		}
		w.quarantine[q.ID] = true
		fmt.Fprintf(w.out, "  %s  quarantined mail %d (uid %d): %s\n", q.StoredAt.Local().Format(time.TimeOnly), q.ID, q.Origin.UID, q.Reason)
	}
}
