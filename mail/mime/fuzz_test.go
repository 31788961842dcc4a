package mime

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics or hangs and always returns
// either a Message or an error, and that what it returns keeps its promises.
// Seeds: every testdata/*.eml, plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Attachments for the policy: a disguised executable, an attached mail
	// holding one, text to redact.
	f.Add(mailWith(part{"invoice.pdf", "application/pdf", samplePE}, part{"a.csv", "text/csv", []byte("a;4111\n")}))
	f.Add(mailWith(part{"fwd.eml", "message/rfc822", mailWith(part{"x.pdf", "application/pdf", samplePE})}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A small cap exercises truncation; it depends on the input so that
		// the default is covered too. So does the attachment policy.
		opts := ParseOptions{KeepHeaders: []string{"X-Test"}}
		if len(data)%2 == 1 {
			opts.MaxTextBytes = 32
		}
		if len(data)%3 != 0 {
			opts.Attachments = &AttachmentPolicy{MaxSize: 200, MaxTotal: 300, Allow: []string{"text/*", "application/pdf", "message/rfc822"},
				Refuse: []string{"application/vnd.microsoft.portable-executable"}}
			opts.RedactText = func(s string) string { return strings.ReplaceAll(s, "4", "[x]") }
		}
		sink := newMemSink()
		type result struct {
			m   *Message
			err error
		}
		done := make(chan result, 1)
		go func() {
			m, err := Parse(bytes.NewReader(data), sink, opts)
			done <- result{m, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Parse did not return within 10 s on %q", data)
		}
		if r.err != nil {
			var pe *ParseError
			if r.m != nil || !errors.As(r.err, &pe) {
				t.Fatalf("Parse = %v, %v: want nil and a *ParseError", r.m, r.err)
			}
			if pe.Reason == "parser failure" {
				t.Fatalf("recovered panic: %v", r.err)
			}
			return
		}
		m := r.m
		if m == nil {
			t.Fatal("Parse returned neither a Message nor an error")
		}
		checkBlobs(t, m, sink)
		for _, d := range m.Dropped {
			if d.Reason == "" || d.ContentType == "" {
				t.Errorf("dropped without a reason or type: %+v", d)
			}
		}
		if opts.Attachments == nil && len(m.Dropped) > 0 {
			t.Errorf("dropped without a policy: %+v", m.Dropped)
		}
		limit := opts.MaxTextBytes
		if limit == 0 {
			limit = DefaultMaxTextBytes
		}
		if int64(len(m.Text)) > limit || int64(len(m.HTML)) > limit {
			t.Errorf("bodies over the cap: %d / %d > %d", len(m.Text), len(m.HTML), limit)
		}
		if strings.ContainsRune(m.Text, '\r') {
			t.Errorf("CR in Text %q", m.Text)
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Errorf("line break in Subject %q", m.Subject)
		}
		for what, s := range map[string]string{
			"Subject": m.Subject, "Text": m.Text, "HTML": m.HTML,
			"From.Name": m.From.Name, "From.Email": m.From.Email, "MessageID": m.MessageID,
		} {
			if !utf8.ValidString(s) {
				t.Errorf("%s is not valid UTF-8: %q", what, s)
			}
		}
		for _, a := range m.Attachments {
			if !utf8.ValidString(a.Filename) || strings.ContainsAny(a.Filename, "\r\n\x00") {
				t.Errorf("bad file name %q", a.Filename)
			}
		}
	})
}

// qpReference is the quoted-printable decoder qpReader must agree with:
// the rules of qpReader applied one byte at a time, each decision looking
// ahead as far as a full buffer of br reaches.
type qpReference struct {
	br *bufio.Reader
}

func (q *qpReference) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if _, err := q.br.Peek(1); err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		n += (&qpReader{br: q.br}).decodeByte(p[n:])
	}
	return n, nil
}

// FuzzQPReader checks that qpReader's bulk decoding gives the same bytes as
// deciding byte by byte, whatever the sizes of the reads.
func FuzzQPReader(f *testing.F) {
	f.Add([]byte("a =41=\r\nb  \r\nc=\n= \t\r\nd=4=zz \t"), uint8(3))
	f.Add([]byte(strings.Repeat(" ", 5000)+"=\r\nx"+strings.Repeat("\t", 4095)+"=\r"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		want, err := io.ReadAll(&qpReference{br: bufio.NewReader(bytes.NewReader(data))})
		if err != nil {
			t.Fatal(err)
		}
		q := &qpReader{br: bufio.NewReader(bytes.NewReader(data))}
		var got []byte
		buf := make([]byte, int(step)+1)
		for {
			n, err := q.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("qpReader gives\n%q\nbyte by byte\n%q", got, want)
		}
	})
}
