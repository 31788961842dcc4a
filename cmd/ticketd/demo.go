package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	gomail "github.com/emersion/go-message/mail"
	gosmtp "github.com/emersion/go-smtp"

	"ticketd/desk"
	"ticketd/mail"
	"ticketd/mail/imapmem"
	"ticketd/mail/mime"
	"ticketd/store"
)

// The demo runs the real daemon against embedded servers: an IMAP server
// holding the support mailbox and an SMTP server that files mail for the
// support address into it (as a mail provider would) and keeps everything else.

const (
	demoSupport = "support@demo.example"
	demoAgent   = "anna@demo.example" // the queue's agent, whom the demo plays
	demoUser    = "support"
	demoPass    = "demo-password"
)

// Where the demo's servers listen unless told otherwise; a taken port is
// replaced by a free one. A port given by flag must be free.
const (
	demoIMAPAddr = "127.0.0.1:1143"
	demoSMTPAddr = "127.0.0.1:2525"
	demoHTTPAddr = "127.0.0.1:8080"
)

func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "demo")
	duration := fs.Duration("for", 0, "stop after this long (default: run until Ctrl-C)")
	keep := fs.Bool("keep", false, "keep the temporary data directory")
	verbose := fs.Bool("v", false, "print the daemon's log")
	imapFlag := fs.String("imap", "", "the IMAP server's loopback `address` (default "+demoIMAPAddr+", or a free port)")
	smtpFlag := fs.String("smtp", "", "the SMTP server's loopback `address` (default "+demoSMTPAddr+", or a free port)")
	httpFlag := fs.String("http", "", "the consent page's loopback `address` (default "+demoHTTPAddr+", or a free port)")
	if len(args) > 0 && args[0] == "send" {
		return cmdDemoSend(e, args[1:])
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("demo", "takes no arguments but send")
	}
	imapLn, err := demoListener("imap", *imapFlag, demoIMAPAddr)
	if err != nil {
		return err
	}
	smtpLn, err := demoListener("smtp", *smtpFlag, demoSMTPAddr)
	if err != nil {
		imapLn.Close()
		return err
	}
	httpLn, err := demoListener("http", *httpFlag, demoHTTPAddr)
	if err != nil {
		imapLn.Close()
		smtpLn.Close()
		return err
	}
	httpAddr := httpLn.Addr().String()
	httpLn.Close() // the daemon listens there itself
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

	imapAddr, user, stopIMAP, err := demoIMAP(imapLn)
	if err != nil {
		smtpLn.Close()
		return err
	}
	defer stopIMAP()
	smtpSrv, smtpAddr := demoSMTP(user, smtpLn)
	defer smtpSrv.srv.Close()
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
	log := slog.New(mail.MaskingHandler(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug})))
	d, err := startDaemon(cfg, log)
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

	w := &demoWatcher{desk: d.desk, out: out, mta: smtpSrv, dir: dir}
	w.waitFor(ctx, 4, 10*time.Second)
	// Two acknowledgements, the agent's two new-ticket notifications and
	// the one of the German customer's second mail.
	w.waitAcks(ctx, 5, 10*time.Second)
	w.print()
	if err := w.playAgent(ctx, smtpAddr); err != nil {
		fmt.Fprintf(out, "demo: the agent's part: %v\n", err)
	}
	fmt.Fprintf(out, "\nSend more mail from another terminal, with this binary (from the source tree: go run ./cmd/ticketd ...):\n")
	fmt.Fprintf(out, "  ticketd demo send -smtp %s -from you@example.org -subject 'Hallo' 'Mein Drucker brennt.'\n", smtpAddr)
	fmt.Fprintf(out, "or with any SMTP client to %s at %s, or put it into the IMAP inbox with any mail client (IMAP %s, plain, user %s, password %s).\n",
		demoSupport, smtpAddr, imapAddr, demoUser, demoPass)
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

func demoIMAP(ln net.Listener) (addr string, user *imapmemserver.User, stop func(), err error) {
	srv, err := imapmem.New(demoUser, demoPass, []string{"INBOX", "Processed", "Quarantine"}, nil, nil)
	if err != nil {
		ln.Close()
		return "", nil, nil, err
	}
	srv.Serve(ln)
	return ln.Addr().String(), srv.User, func() { srv.Close() }, nil
}

// demoListener listens on the address given by flag, which must be free
// and on loopback (the demo's servers take a password everyone knows), or
// on def, or on a free loopback port when def is taken.
func demoListener(name, flagged, def string) (net.Listener, error) {
	if flagged == "" {
		return listenPreferred(def)
	}
	host, _, err := net.SplitHostPort(flagged)
	if err != nil {
		return nil, usageError("demo", "-%s %q: %v", name, flagged, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, usageError("demo", "-%s %q: the demo listens on loopback addresses only (127.0.0.1, [::1], localhost)", name, flagged)
	}
	ln, err := net.Listen("tcp", flagged)
	if err != nil {
		return nil, &exitError{exitTempFail, fmt.Errorf("demo: -%s: %w", name, err)}
	}
	return ln, nil
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

func demoSMTP(user *imapmemserver.User, ln net.Listener) (*demoMTA, string) {
	m := &demoMTA{user: user}
	m.srv = gosmtp.NewServer(m)
	m.srv.Domain = "localhost"
	m.srv.MaxMessageBytes = 64 << 20
	m.srv.ReadTimeout = time.Minute
	m.srv.WriteTimeout = time.Minute
	go m.srv.Serve(ln)
	return m, ln.Addr().String()
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
		if demoForSupport(to) {
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

// demoForSupport reports whether to is the support address or one of its
// plus addresses (an agent's reply address), which the mail provider files
// into the support mailbox.
func demoForSupport(to string) bool {
	local, domain, ok := strings.Cut(strings.ToLower(to), "@")
	return ok && domain == "demo.example" && (local == "support" || strings.HasPrefix(local, "support+"))
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
agents = [%q]

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
`+demoNotice, httpAddr, httpAddr, sh, sp, demoSupport, demoAgent, demoSupport, ih, ip, demoUser)
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
	// No address to answer or to file it under: quarantined with that reason.
	{"broken@example.net", demoSupport, "Subject: kaputt\r\nX-Junk: \x01\x02\r\nMessage-ID: <demo-broken@example.net>\r\n\r\n" +
		"this mail names no sender in any header\r\n"},
}

// cmdDemoSend is ticketd demo send: one plain mail to the demo's support
// address over SMTP, so that trying the demo needs no mail client.
func cmdDemoSend(e *env, args []string) error {
	fs := flag.NewFlagSet("ticketd demo send", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: ticketd demo send [-smtp ADDR] [-from ADDR] [-subject TEXT] TEXT...\n")
		fs.PrintDefaults()
	}
	addr := fs.String("smtp", demoSMTPAddr, "the demo's SMTP `address`, as the demo printed it")
	from := fs.String("from", "you@example.org", "the sender `address`")
	subject := fs.String("subject", "Hallo", "the `subject`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return &exitError{exitUsage, errors.New("demo send: no text given (usage: ticketd demo send [-smtp ADDR] [-from ADDR] [-subject TEXT] TEXT...)")}
	}
	sender, err := netmail.ParseAddress(*from)
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("demo send: -from: %w", err)}
	}
	var h gomail.Header
	h.SetAddressList("From", []*gomail.Address{{Name: sender.Name, Address: sender.Address}})
	h.SetAddressList("To", []*gomail.Address{{Address: demoSupport}})
	h.SetSubject(*subject)
	h.SetDate(time.Now())
	if err := h.GenerateMessageID(); err != nil {
		return err
	}
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := gomail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return err
	}
	io.WriteString(w, strings.Join(fs.Args(), " ")+"\r\n")
	if err := w.Close(); err != nil {
		return err
	}
	if err := smtp.SendMail(*addr, nil, sender.Address, []string{demoSupport}, buf.Bytes()); err != nil {
		return &exitError{exitTempFail, fmt.Errorf("demo send: %w (is ticketd demo running, and is %s the SMTP address it printed?)", err, *addr)}
	}
	id, _ := h.MessageID()
	fmt.Fprintf(e.stdout, "sent <%s> to %s at %s\n", id, demoSupport, *addr)
	return nil
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
	desk       *desk.Desk
	out        io.Writer
	mta        *demoMTA
	dir        string
	messages   map[uint64]bool
	quarantine map[uint64]bool
	acks       int
	notified   []*mime.Message // the agent's notifications, with their Reply-To
	answers    []*mime.Message // the agents' answers the customers received
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
		msg, err := mime.Parse(bytes.NewReader(raw), discardBlobs{}, mime.ParseOptions{})
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
		now := time.Now().Format(time.TimeOnly)
		switch {
		case strings.EqualFold(to, demoAgent):
			replyTo := "-"
			if len(msg.ReplyTo) > 0 {
				replyTo = msg.ReplyTo[0].Email
				w.notified = append(w.notified, msg)
			}
			fmt.Fprintf(w.out, "  %s  agent notified: %s\n      subject %q\n      Reply-To %s\n      saved as %s\n", now, to, msg.Subject, replyTo, saved)
		case msg.AutoSubmitted == "":
			w.answers = append(w.answers, msg)
			fmt.Fprintf(w.out, "  %s  the customer received the agent's answer, saved as %s:\n", now, saved)
			fmt.Fprintf(w.out, "      From:        %s\n      To:          %s\n      Subject:     %s\n      In-Reply-To: <%s>\n",
				desk.FormatAddress(msg.From), desk.FormatAddress(msg.To[0]), msg.Subject, strings.Join(msg.InReplyTo, "> <"))
			for _, line := range strings.Split(strings.TrimRight(msg.Text, "\n"), "\n") {
				fmt.Fprintf(w.out, "      | %s\n", line)
			}
		default:
			fmt.Fprintf(w.out, "  %s  acknowledgement sent to %s (%s)\n      subject %q, with the privacy notice (Art. 13 GDPR) and a consent link\n      saved as %s\n",
				now, to, msg.ContentLanguage, msg.Subject, saved)
			if link, ticket := consentLink(msg.Text), demoTicketTag.FindStringSubmatch(msg.Subject); link != "" && ticket != nil {
				fmt.Fprintf(w.out, "      consent page for ticket #%s: %s\n", ticket[1], link)
			}
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
	qs, _ := w.desk.ListQuarantine()
	n := len(qs)
	opt := desk.ListOptions{Limit: desk.MaxPageSize}
	for {
		pg, err := w.desk.ListTickets(opt)
		if err != nil {
			return n
		}
		for _, t := range pg.Tickets {
			n += t.Messages
		}
		if pg.Next == 0 {
			return n
		}
		opt.After = pg.Next
	}
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
	pg, err := w.desk.ListTickets(desk.ListOptions{Limit: desk.MaxPageSize}) // the demo's few
	if err != nil {
		fmt.Fprintln(w.out, "demo:", err)
		return
	}
	for _, t := range pg.Tickets {
		d, err := w.desk.ShowTicket(t.Number)
		if err != nil {
			continue
		}
		for _, m := range d.Messages {
			if w.messages[m.ID] {
				continue
			}
			w.messages[m.ID] = true
			what := fmt.Sprintf("new ticket #%d", t.Number)
			switch {
			case m.Direction == store.DirectionOut:
				what = fmt.Sprintf("agent %s answered ticket #%d", m.Agent, t.Number)
			case m.Direction == store.DirectionNote:
				what = fmt.Sprintf("agent %s steered ticket #%d (%s)", m.Agent, t.Number, strings.Join(m.Commands, " "))
			case m.Direction == store.DirectionRefused:
				what = fmt.Sprintf("agent mail refused on ticket #%d: %s", t.Number, m.Refused)
			case m.ThreadedBy != "":
				what = fmt.Sprintf("reply added to ticket #%d (threaded by %s)", t.Number, m.ThreadedBy)
			}
			fmt.Fprintf(w.out, "  %s  %s\n      from %s, subject %q, %d attachment(s)\n      origin: %s, mailbox %s, uid %d, Message-ID <%s>\n",
				m.Origin.StoredAt.Local().Format(time.TimeOnly), what, desk.FormatAddress(m.From), m.Subject,
				len(m.Attachments), m.Origin.Channel, m.Origin.Mailbox, m.Origin.UID, m.Origin.MessageID)
		}
	}
	defer w.printAcks()
	qs, _ := w.desk.ListQuarantine()
	for _, q := range qs {
		if w.quarantine[q.ID] {
			continue
		}
		w.quarantine[q.ID] = true
		fmt.Fprintf(w.out, "  %s  quarantined mail %d (uid %d): %s\n", q.StoredAt.Local().Format(time.TimeOnly), q.ID, q.Origin.UID, q.Reason)
	}
}
