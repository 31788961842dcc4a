package desk

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ticketd/mail"
	"ticketd/store"
)

// exeMarker is in the disguised executable; no file of the data directory
// may hold it after the mail is stored.
const exeMarker = "EXE-BODY-7f3a9c-NOT-A-PDF"

func disguisedExe() []byte {
	b := make([]byte, 0x400)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00")
	copy(b[0x200:], exeMarker)
	return b
}

// mailWithFiles is a multipart mail with a text body and the files, each
// given its name, declared type and content (base64).
func mailWithFiles(header, body string, files ...[3]string) []byte {
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(strings.TrimSpace(header), "\n", "\r\n"))
	b.WriteString("\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	fmt.Fprintf(&b, "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
	for _, f := range files {
		fmt.Fprintf(&b, "--b1\r\nContent-Type: %s\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", f[1], f[0])
		enc := base64.StdEncoding.EncodeToString([]byte(f[2]))
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b1--\r\n")
	return []byte(b.String())
}

// grepDir reports the files under dir that hold s.
func grepDir(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

func TestDisguisedExecutableIsDropped(t *testing.T) {
	fd := newFileDesk(t)
	pdf := "%PDF-1.4\nthe real invoice\n%%EOF\n"
	out := fd.ingest(mailWithFiles("From: Erika <erika@example.org>\nTo: support@example.com\nSubject: Rechnung\nMessage-ID: <x1@example.org>",
		"Anbei die Rechnung.", [3]string{"invoice.pdf", "application/pdf", string(disguisedExe())}, [3]string{"real.pdf", "application/pdf", pdf}))
	if !out.NewTicket || out.Quarantine != 0 {
		t.Fatalf("outcome %+v, want a new ticket", out)
	}
	var msgs []*store.Message
	var detail string
	fd.db.View(func(tx *store.Tx) error {
		msgs, _ = tx.TicketMessages(out.Ticket)
		return tx.AuditEvents(func(e *store.AuditEvent) bool {
			if e.Action == store.ActionMessageAdded && e.Message == out.Message {
				detail = e.Detail
			}
			return true
		})
	})
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	want := store.DroppedAttachment{Filename: "invoice.pdf", ContentType: "application/vnd.microsoft.portable-executable",
		Declared: "application/pdf", Size: int64(len(disguisedExe())), Reason: "type application/vnd.microsoft.portable-executable refused"}
	if len(m.Dropped) != 1 || m.Dropped[0] != want {
		t.Errorf("Dropped = %+v\nwant %+v", m.Dropped, want)
	}
	if strings.TrimSpace(m.Text) != "Anbei die Rechnung." || len(m.Attachments) != 1 || m.Attachments[0].Filename != "real.pdf" {
		t.Errorf("the rest of the mail: text %q, attachments %+v", m.Text, m.Attachments)
	}
	if !strings.Contains(detail, "dropped 1 attachment(s): type application/vnd.microsoft.portable-executable refused") || strings.Contains(detail, "invoice") {
		t.Errorf("audit detail %q: want the drop, by type, without the file name", detail)
	}
	if hits := grepDir(t, fd.db.Dir(), exeMarker); len(hits) > 0 {
		t.Errorf("the executable's content is stored in %v", hits)
	}
}

func TestAgentReplyAttachmentDropped(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker kaputt", "Der Drucker druckt nicht.")
	ra := replyTo(t, ms, "anna@example.com")
	raw := mailWithFiles(fmt.Sprintf("From: Anna <anna@example.com>\nTo: %s\nSubject: Re: [#%d] Drucker kaputt\nMessage-ID: <a1@example.com>", ra, n),
		"Hier das Werkzeug.", [3]string{"treiber.pdf", "application/pdf", string(disguisedExe())})
	out, sent := fd.reply(raw)
	if out.AgentReply != store.DirectionOut || len(sent) != 1 {
		t.Fatalf("outcome %+v, queued %v", out, kinds(sent))
	}
	if strings.Contains(sent[0].raw, base64.StdEncoding.EncodeToString(disguisedExe())[:40]) || strings.Contains(sent[0].raw, "treiber.pdf") {
		t.Errorf("the relayed answer carries the refused attachment")
	}
	msgs := fd.messages(n)
	last := msgs[len(msgs)-1]
	if len(last.Dropped) != 1 || last.Dropped[0].Filename != "treiber.pdf" || last.Dropped[0].ContentType != "application/vnd.microsoft.portable-executable" {
		t.Errorf("agent message Dropped = %+v", last.Dropped)
	}
}

// bigMailFile writes a mail with a base64 attachment of size bytes (a PDF
// by its first bytes; size a multiple of 57) to a file, line by line, and
// returns its path.
func bigMailFile(t *testing.T, size int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.eml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "From: Erika <erika@example.org>\r\nTo: support@example.com\r\nSubject: Scans\r\nMessage-ID: <big@example.org>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nDie Scans.\r\n"+
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"scans.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	raw := make([]byte, 57)
	line := make([]byte, 78)
	x := uint32(1)
	for written := 0; written < size; written += len(raw) {
		for i := range raw {
			x = x*1664525 + 1013904223
			raw[i] = byte(x >> 24)
		}
		if written == 0 {
			copy(raw, "%PDF-1.4\n")
		}
		base64.StdEncoding.Encode(line, raw)
		line[76], line[77] = '\r', '\n'
		f.Write(line)
	}
	io.WriteString(f, "--b--\r\n")
	return path
}

// A 30 MB attachment over max_size (25 MB) is dropped without being held in
// memory: the heap in use while it is parsed and stored stays far below it.
func TestLargeAttachmentDroppedInFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("30 MB mail")
	}
	const size = 30 << 20 / 57 * 57
	fd := newFileDesk(t)
	path := bigMailFile(t, size)
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	f, err := mail.ReadFetched(file, t.TempDir(), 64<<20) // spooled to a file: only its head is in memory
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
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
			case <-time.After(time.Millisecond):
			}
		}
	}()
	out, err := fd.d.Ingest(context.Background(), f, "support", false)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("30 MiB attachment dropped: peak heap in use %+d KiB over the baseline", growth>>10)
	if growth > 12<<20 {
		t.Errorf("heap grew by %d MiB while a %d MiB attachment was dropped", growth>>20, size>>20)
	}
	msgs := fd.messages(out.Ticket)
	if len(msgs) != 1 || len(msgs[0].Attachments) != 0 || len(msgs[0].Dropped) != 1 {
		t.Fatalf("stored %+v", msgs)
	}
	d := msgs[0].Dropped[0]
	if d.Size != size || d.ContentType != "application/pdf" || d.Reason != "too large (31.5 MB > max_size 25 MB)" {
		t.Errorf("Dropped = %+v", d)
	}
	if n := countFiles(t, filepath.Join(fd.db.Dir(), "blobs")); n != 0 {
		t.Errorf("%d blob files left behind", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
