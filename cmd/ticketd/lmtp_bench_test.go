package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"ticketd/config"
	"ticketd/desk"
)

// benchParallel is how many sessions (LMTP) or processes (pipe) deliver at
// once, as Postfix would with a destination concurrency limit of 8.
const benchParallel = 8

// lmtpBenchMail is mail number i of a run, about 5 KB: three Received
// fields, multipart/alternative text and HTML in quoted-printable, every
// fifth with a base64 attachment, every third a reply.
func lmtpBenchMail(run string, i int) []byte {
	var b strings.Builder
	for h := range 3 {
		fmt.Fprintf(&b, "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\r\n\tby mx.example.com with ESMTPS id %s%08x\r\n\tfor <support@example.com>; Mon, 23 Nov 2026 10:%02d:00 +0100\r\n", h, h, h+1, run, i, i%60)
	}
	fmt.Fprintf(&b, "From: Kunde %d <kunde%d@example.org>\r\nTo: Support <support@example.com>\r\n", i%500, i%500)
	if i%3 == 1 {
		fmt.Fprintf(&b, "Subject: Re: Anfrage %d\r\nIn-Reply-To: <%s-%d@example.org>\r\n", i-1, run, i-1)
	} else {
		fmt.Fprintf(&b, "Subject: Anfrage %d: Rechnung und Lieferung\r\n", i)
	}
	fmt.Fprintf(&b, "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nMessage-ID: <%s-%d@example.org>\r\nMIME-Version: 1.0\r\n", run, i)
	para := "Sehr geehrte Damen und Herren, ich habe eine Frage zu meiner Bestellung =C3=BCber Ihren Shop. Die Lieferung ist bis heute nicht eingetroffen.\r\n"
	alt := func() {
		b.WriteString("Content-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		b.WriteString(strings.Repeat(para, 10))
		b.WriteString("\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><body>")
		b.WriteString(strings.Repeat("<p>"+strings.TrimSuffix(para, "\r\n")+"</p>=\r\n", 10))
		b.WriteString("</body></html>\r\n--alt--\r\n")
	}
	if i%5 == 0 {
		b.WriteString("Content-Type: multipart/mixed; boundary=mix\r\n\r\n--mix\r\n")
		alt()
		b.WriteString("--mix\r\nContent-Type: application/pdf; name=\"rechnung.pdf\"\r\nContent-Disposition: attachment; filename=\"rechnung.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		for range 20 {
			b.WriteString("JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURl\r\n")
		}
		b.WriteString("--mix--\r\n")
	} else {
		alt()
	}
	return []byte(b.String())
}

// BenchmarkLMTP measures mail from an MTA into the running daemon's
// (encrypted) store in one run, three ways, each with benchParallel
// deliveries at once: over LMTP (one connection per session, reused, as
// Postfix's lmtp client does), as a Postfix pipe (a `ticketd ingest -`
// process per mail, the binary built once, talking to the daemon over the
// admin socket), and in-process (desk.IngestFrom, the pipe's path inside
// the daemon without the process and the socket). It reports the mails/s
// of each and the ratios lmtp/pipe and lmtp/direct. Run it with
// -benchtime=1x (make bench).
func BenchmarkLMTP(b *testing.B) {
	const lmtpMails, pipeMails, directMails = 4000, 400, 2000
	bin := filepath.Join(b.TempDir(), "ticketd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for b.Loop() {
		dir := b.TempDir()
		sock := filepath.Join(dir, "lmtp.sock")
		path := writeConfig(b, dir, "127.0.0.1:1", "\n[lmtp]\nlisten = \"unix:"+sock+"\"\n")
		cfg, err := config.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		d, err := startDaemon(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		lmtp := rate(b, lmtpMails, func(worker, from, to int) error { return benchLMTPSession(sock, "lmtp", from, to) })
		pipe := rate(b, pipeMails, func(worker, from, to int) error {
			for i := from; i < to; i++ {
				cmd := exec.Command(bin, "ingest", "-config", path, "-mailbox", "support", "-")
				cmd.Stdin = bytes.NewReader(lmtpBenchMail("pipe", i))
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("ticketd ingest: %v: %s", err, out)
				}
			}
			return nil
		})
		direct := rate(b, directMails, func(worker, from, to int) error {
			for i := from; i < to; i++ {
				if _, err := d.desk.IngestFrom(context.Background(), bytes.NewReader(lmtpBenchMail("direct", i)), desk.IngestRequest{Mailbox: "support"}); err != nil {
					return err
				}
			}
			return nil
		})
		page, err := d.desk.ListTickets(desk.ListOptions{Limit: desk.MaxPageSize})
		d.stop()
		if err != nil {
			b.Fatal(err)
		}
		if want := (lmtpMails + pipeMails + directMails) * 2 / 3; len(page.Tickets) < want {
			b.Fatalf("%d tickets, want at least %d", len(page.Tickets), want)
		}
		b.ReportMetric(lmtp, "lmtp-mails/s")
		b.ReportMetric(pipe, "pipe-mails/s")
		b.ReportMetric(direct, "direct-mails/s")
		b.ReportMetric(lmtp/pipe, "lmtp/pipe")
		b.ReportMetric(lmtp/direct, "lmtp/direct")
	}
}

// rate runs n deliveries split over benchParallel workers and returns
// mails per second.
func rate(b *testing.B, n int, work func(worker, from, to int) error) float64 {
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for w := range benchParallel {
		from, to := n*w/benchParallel, n*(w+1)/benchParallel
		wg.Go(func() {
			if err := work(w, from, to); err != nil {
				failed.Store(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return float64(n) / elapsed.Seconds()
}

// benchLMTPSession delivers mails from..to over one LMTP connection.
func benchLMTPSession(sock, run string, from, to int) error {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	c := gosmtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mx.example.com"); err != nil {
		return err
	}
	for i := from; i < to; i++ {
		if err := c.Mail("kunde@example.org", nil); err != nil {
			return err
		}
		if err := c.Rcpt("support@example.com", nil); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(lmtpBenchMail(run, i)); err != nil {
			return err
		}
		if _, err := w.CloseWithLMTPResponse(); err != nil {
			return err
		}
	}
	return c.Quit()
}
