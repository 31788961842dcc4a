package desk

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"go.etcd.io/bbolt"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/mail/mime"
	"ticketd/store"
)

// benchMail is a realistic support mail of about 6 KB: three Received
// headers, a DKIM signature, text and HTML alternatives in quoted-printable,
// every fifth with a small PDF attached, every third a reply.
func benchMail(i int, rnd *mrand.Rand) []byte {
	var b strings.Builder
	for h := range 3 {
		fmt.Fprintf(&b, "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\r\n\tby goimap.example.com with ESMTPS id %x\r\n\tfor <support@example.com>; Mon, 23 Nov 2026 10:%02d:00 +0100\r\n", h, h, h+1, rnd.Uint64(), i%60)
	}
	fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=mail;\r\n\th=from:to:subject:date:message-id; bh=%s;\r\n\tb=%s\r\n",
		base64.StdEncoding.EncodeToString(randBytes(rnd, 32)), base64.StdEncoding.EncodeToString(randBytes(rnd, 180)))
	fmt.Fprintf(&b, "From: Kunde %d <kunde%d@example.org>\r\nTo: Support <support@example.com>\r\n", i%500, i%500)
	if i%3 == 1 {
		fmt.Fprintf(&b, "Subject: Re: [Ticket #%d] Anfrage %d\r\nIn-Reply-To: <bench-%d@example.org>\r\nReferences: <bench-%d@example.org>\r\n", i, i-1, i-1, i-1)
	} else {
		fmt.Fprintf(&b, "Subject: Anfrage %d: Rechnung und Lieferung\r\n", i)
	}
	fmt.Fprintf(&b, "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nMessage-ID: <bench-%d@example.org>\r\nMIME-Version: 1.0\r\n", i)
	para := "Sehr geehrte Damen und Herren, ich habe eine Frage zu meiner Bestellung =C3=BCber Ihren Shop. Die Lieferung ist bis heute nicht eingetroffen, und die Rechnung wurde bereits abgebucht.\r\n"
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
		pdf := base64.StdEncoding.EncodeToString(randBytes(rnd, 1200+rnd.IntN(800)))
		for len(pdf) > 76 {
			b.WriteString(pdf[:76] + "\r\n")
			pdf = pdf[76:]
		}
		b.WriteString(pdf + "\r\n--mix--\r\n")
	} else {
		alt()
	}
	return []byte(b.String())
}

func randBytes(rnd *mrand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rnd.Uint32())
	}
	return p
}

// storeModes are the sub-benchmarks of the mail-in benchmarks: the store
// encrypted at rest (as ticketd always runs it) and plain (no master key),
// in the same run, so that the cost of the encryption shows.
var storeModes = []string{"encrypted", "plain"}

// setStoreMode makes the harness's store encrypted or plain.
func setStoreMode(h *harness, mode string) {
	if mode == "plain" {
		h.cfg.Server.MasterKeyFile = ""
	}
}

// BenchmarkIngest10k ingests 10,000 mails from a private Dovecot on loopback
// and prints mails per second end to end (fetch, parse, dedup, thread, store
// in bbolt with fsync, flag \Seen), next to its floor measured in the same
// run: the smaller of the raw IMAP fetch rate of the same server and of
// bbolt's insert rate at 100 per transaction (floor-ratio-* is the ratio,
// cpu-us/mail-* the process's CPU time per mail); once into an encrypted
// store and once into a plain one.
func BenchmarkIngest10k(b *testing.B) {
	if !mailtest.Interop() {
		b.Skip("needs Dovecot: make bench (TICKETD_INTEROP=1)")
	}
	const n = 10000
	d := mailtest.StartDovecot(b)
	rnd := mrand.New(mrand.NewPCG(1, 2))
	msgs := make([][]byte, n)
	var total int
	for i := range msgs {
		msgs[i] = benchMail(i, rnd)
		total += len(msgs[i])
	}
	d.WriteMaildir(b, "INBOX", msgs)
	acct := &mailtest.Account{Addr: d.Addr, Username: d.Username, Password: d.Password}
	b.Logf("%d mails, %.1f MB, average %.1f KB", n, float64(total)/1e6, float64(total)/n/1e3)

	raw := rawFetchRate(b, acct, n)
	bolt := boltInsertRate(b, msgs)
	floor := min(raw, bolt)
	b.Logf("floor: raw IMAP fetch %.0f mails/s, bbolt insert (100 per transaction) %.0f/s", raw, bolt)
	for _, mode := range storeModes {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				for _, after := range []string{"keep", "seen"} {
					h := newHarness(b, acct, func(m *config.Mailbox) { m.AfterImport = after; m.BatchSize = 500 })
					setStoreMode(h, mode)
					start, cpu0 := time.Now(), cpuTime()
					h.start()
					h.waitSettled(n)
					elapsed, cpu := time.Since(start), cpuTime()-cpu0
					if got := h.totalMessages(); got != n {
						b.Fatalf("stored %d messages, want %d", got, n)
					}
					if h.db.Encrypted() != (mode == "encrypted") {
						b.Fatalf("store encrypted %v in mode %s", h.db.Encrypted(), mode)
					}
					h.stop()
					rate := float64(n) / elapsed.Seconds()
					fmt.Printf("ingest %d mails from Dovecot, %s store, after_import=%s: %.0f mails/s end to end (%v, %.0f µs CPU per mail); floor %.0f (raw IMAP fetch %.0f, bbolt insert %.0f): %.2f of it\n",
						n, mode, after, rate, elapsed.Round(time.Millisecond), float64(cpu.Microseconds())/n, floor, raw, bolt, rate/floor)
					b.ReportMetric(rate, "mails/s-"+after)
					b.ReportMetric(rate/floor, "floor-ratio-"+after)
					b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-us/mail-"+after)
				}
				b.ReportMetric(raw, "fetch-mails/s")
				b.ReportMetric(bolt, "bolt-inserts/s")
			}
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used: per
// mail it is a steadier figure than the wall clock on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// boltInsertRate times bbolt alone storing values (the benchmark's mails)
// under sequential keys, 100 per transaction, each commit with fsync as
// the store does: the other ceiling for ingestion.
func boltInsertRate(tb testing.TB, values [][]byte) float64 {
	db, err := bbolt.Open(filepath.Join(tb.TempDir(), "floor.db"), 0o600, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	for lo := 0; lo < len(values); lo += 100 {
		err := db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("m"))
			if err != nil {
				return err
			}
			for i := lo; i < min(lo+100, len(values)); i++ {
				if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), values[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return float64(len(values)) / time.Since(start).Seconds()
}

// rawFetchRate times a plain UID FETCH BODY.PEEK[] of all n mails in batches
// of 500, each literal streamed to io.Discard: the ceiling for ingestion.
func rawFetchRate(tb testing.TB, acct *mailtest.Account, n int) float64 {
	c := acct.Client(tb)
	defer c.Close()
	start := time.Now()
	if _, err := c.Select("INBOX", &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		tb.Fatal(err)
	}
	got := 0
	for lo := 1; lo <= n; lo += 500 {
		var set goimap.UIDSet
		set.AddRange(goimap.UID(lo), goimap.UID(min(lo+499, n)))
		fc := c.Fetch(set, &goimap.FetchOptions{UID: true, BodySection: []*goimap.FetchItemBodySection{{Peek: true}}})
		for msg := fc.Next(); msg != nil; msg = fc.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
					io.Copy(io.Discard, body.Literal)
					got++
				}
			}
		}
		if err := fc.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	if got != n {
		tb.Fatalf("raw fetch got %d mails, want %d", got, n)
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkIngestLargeMail ingests one mail of 50 MB (a 36 MiB attachment,
// base64) into an encrypted store and reports the peak heap in use while it
// is fetched, parsed and stored (HeapInuse, sampled every 2 ms from an idle
// baseline after a GC): it is streamed to a spool file and the attachment
// to a blob file, never held in memory. "binary" is random bytes; "text" is
// a log of lines with a card number on each, which the redaction of text
// attachments rewrites as it streams.
func BenchmarkIngestLargeMail(b *testing.B) {
	if !mailtest.Interop() {
		b.Skip("needs Dovecot: make bench (TICKETD_INTEROP=1)")
	}
	const attSize = 36 << 20 // 50 MB once base64-encoded
	b.Run("binary", func(b *testing.B) {
		att := make([]byte, attSize)
		rand.Read(att)
		benchLargeMail(b, "application/octet-stream", "logs.bin", att, attSize)
	})
	b.Run("text", func(b *testing.B) {
		var t strings.Builder
		for i := 0; t.Len() < attSize; i++ {
			fmt.Fprintf(&t, "2026-11-23 10:%02d:%02d INFO request %d paid with card 4111 1111 1111 1111, done\n", i/60%60, i%60, i)
		}
		benchLargeMail(b, "text/plain; charset=utf-8", "logs.txt", []byte(t.String()), -1)
	})
}

// benchLargeMail ingests one mail whose attachment is att; size is the
// size it must be stored with (-1: any).
func benchLargeMail(b *testing.B, ctype, name string, att []byte, size int) {
	d := mailtest.StartDovecot(b)
	var sb strings.Builder
	sb.WriteString("From: Erika <erika@example.org>\r\nTo: support@example.com\r\nSubject: Logdateien\r\nMessage-ID: <large@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAnbei die Logs.\r\n--b\r\n")
	fmt.Fprintf(&sb, "Content-Type: %s; name=%s\r\nContent-Disposition: attachment; filename=%s\r\nContent-Transfer-Encoding: base64\r\n\r\n", ctype, name, name)
	enc := base64.StdEncoding.EncodeToString(att)
	for len(enc) > 76 {
		sb.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	sb.WriteString(enc + "\r\n--b--\r\n")
	raw := []byte(sb.String())
	att, enc = nil, ""
	sb = strings.Builder{}
	d.WriteMaildir(b, "INBOX", [][]byte{raw})
	mailSize := len(raw)
	raw = nil
	acct := &mailtest.Account{Addr: d.Addr, Username: d.Username, Password: d.Password}

	for b.Loop() {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		h := newHarness(b, acct, func(m *config.Mailbox) { m.AfterImport = "keep" })
		// The attachment is over the default max_size: let [attachments]
		// keep it, so that it is stored.
		h.cfg.Attachments.MaxSize, h.cfg.Attachments.MaxTotal, h.cfg.Attachments.Allow = 64<<20, 64<<20, nil
		start := time.Now()
		h.start()
		h.waitSettled(1)
		elapsed := time.Since(start)
		close(stop)
		<-sampled
		msgs := h.messages(1)
		if len(msgs) != 1 || len(msgs[0].Attachments) != 1 || (size >= 0 && msgs[0].Attachments[0].Size != int64(size)) {
			b.Fatalf("stored %+v", msgs)
		}
		h.stop()
		growth := float64(peak.Load()-min(peak.Load(), base.HeapInuse)) / (1 << 20)
		fmt.Printf("ingest one %.1f MB mail (%s attachment) from Dovecot: %v, peak heap in use %.1f MiB (%.1f MiB above the idle baseline)\n",
			float64(mailSize)/1e6, name, elapsed.Round(time.Millisecond), float64(peak.Load())/(1<<20), growth)
		b.ReportMetric(float64(peak.Load())/(1<<20), "MiB/peak-heap")
		b.ReportMetric(growth, "MiB/heap-growth")
	}
}

// BenchmarkParse parses the benchmark's 6 KB support mails.
func BenchmarkParse(b *testing.B) {
	rnd := mrand.New(mrand.NewPCG(1, 2))
	msgs := make([][]byte, 100)
	for i := range msgs {
		msgs[i] = benchMail(i, rnd)
	}
	db, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := mime.Parse(bytes.NewReader(msgs[i%len(msgs)]), db.NewBlobWriter(), mime.ParseOptions{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDeliver stores batches of 500 benchmark mails (parse, dedup,
// thread, one transaction per batch with fsync), without IMAP.
func BenchmarkDeliver(b *testing.B) {
	rnd := mrand.New(mrand.NewPCG(1, 2))
	cfg := testConfig(b, &mailtest.Account{Addr: "127.0.0.1:1"})
	db, err := store.Open(cfg.Server.DataDir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	d, err := New(db, cfg, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	spool := b.TempDir()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		batch := imap.Batch{Mailbox: "support"}
		for range 500 {
			n++
			f, err := mail.ReadFetched(bytes.NewReader(benchMail(n, rnd)), spool, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			f.UID = uint32(n)
			batch.Mails = append(batch.Mails, f)
		}
		if _, err := deliver(d, &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "mails/s")
}

// BenchmarkAckLatency measures, for 200 mails appended one at a time, the
// time from the mail landing in the IMAP mailbox (APPEND completed) to its
// acknowledgement being accepted by the SMTP server, with IDLE; with an
// encrypted and a plain store, each with servers of its own. Under make
// bench the servers are Dovecot and Postfix on loopback.
func BenchmarkAckLatency(b *testing.B) {
	for _, mode := range storeModes {
		b.Run(mode, func(b *testing.B) { benchAckLatency(b, mode) })
	}
}

func benchAckLatency(b *testing.B, mode string) {
	const n = 200
	acct := server(b)
	relay, _ := relayFor(b)
	accepted := make(chan time.Time, n)
	h := newHarness(b, acct, func(m *config.Mailbox) { m.AfterImport = "keep" })
	setStoreMode(h, mode)
	h.relay = relay
	h.cfg.Acknowledgement.MaxPerSender = n
	h.sent = func(_ []string, err error) {
		if err == nil {
			accepted <- time.Now()
		}
	}
	h.start()
	h.waitConnected()
	for b.Loop() {
		lat := make([]time.Duration, 0, n)
		for i := range n {
			raw := msg{From: fmt.Sprintf("kunde%d@example.org", i), Subject: fmt.Sprintf("Anfrage %d", i),
				MessageID: fmt.Sprintf("lat-%d-%d@example.org", b.N, i), Body: "Bitte um Rückruf."}.raw()
			acct.Append(b, "INBOX", raw)
			landed := time.Now()
			select {
			case at := <-accepted:
				lat = append(lat, at.Sub(landed))
			case <-time.After(30 * time.Second):
				b.Fatalf("mail %d: no acknowledgement within 30s", i)
			}
		}
		slices.Sort(lat)
		med, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		fmt.Printf("mail in IMAP -> acknowledgement accepted by SMTP, %s store, %d mails, IDLE: median %v, p99 %v, max %v\n",
			mode, n, med.Round(time.Millisecond), p99.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
		b.ReportMetric(float64(med.Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	}
}
