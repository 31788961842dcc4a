package config

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"ticketd/mail/mime"
)

func TestAttachmentsDefaults(t *testing.T) {
	c, err := Parse("config.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Attachments
	if a.MaxSize != 25_000_000 || a.MaxTotal != 50_000_000 || len(a.Allow) != len(DefaultAllow) || len(a.Refuse) != len(DefaultRefuse) {
		t.Errorf("defaults = %+v", a)
	}
	for _, list := range [][]string{DefaultAllow, DefaultRefuse} {
		for _, typ := range list {
			if !mime.KnownType(typ) {
				t.Errorf("%q is no type the content sniffing can give", typ)
			}
			if mime.CanonicalType(typ) != typ {
				t.Errorf("%q is spelled %q by the content sniffing", typ, mime.CanonicalType(typ))
			}
		}
	}
}

// docx is a minimal Word document: a zip whose first entries are those Word writes.
func docx(t *testing.T) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml"} {
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(`<?xml version="1.0"?><x/>`))
	}
	z.Close()
	return b.Bytes()
}

func zipOf(t *testing.T, name string, content []byte) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, _ := z.Create(name)
	w.Write(content)
	z.Close()
	return b.Bytes()
}

// TestDefaultPolicySamples checks the default lists against what the
// content sniffing says of real minimal samples: each is sent in a mail
// under a harmless name and declared type, and kept or dropped for the
// reason given.
func TestDefaultPolicySamples(t *testing.T) {
	pe := make([]byte, 0x200)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	elf := func(typ byte) []byte {
		b := make([]byte, 64)
		copy(b, "\x7fELF\x02\x01\x01")
		b[16] = typ
		return b
	}
	macho := append([]byte("\xcf\xfa\xed\xfe\x07\x00\x00\x01"), make([]byte, 40)...)
	iso := append(make([]byte, 0x8001), "CD001\x01"...)
	c, err := Parse("config.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	pol := &mime.AttachmentPolicy{MaxSize: int64(c.Attachments.MaxSize), MaxTotal: int64(c.Attachments.MaxTotal),
		Allow: c.Attachments.Allow, Refuse: c.Attachments.Refuse}
	for _, tc := range []struct {
		name    string
		content []byte
		reason  string // "" kept
	}{
		{"windows executable", pe, "type application/vnd.microsoft.portable-executable refused"},
		{"elf executable", elf(2), "type application/x-executable refused"},
		{"elf shared library", elf(3), "type application/x-sharedlib refused"},
		{"mach-o", macho, "type application/x-mach-binary refused"},
		{"shell script", []byte("#!/bin/sh\necho owned\n"), "type text/x-shellscript refused"},
		{"env bash script", []byte("#!/usr/bin/env bash\necho owned\n"), "type text/x-shellscript refused"},
		{"python script", []byte("#!/usr/bin/python3\nprint(1)\n"), "type text/x-python refused"},
		{"jar", zipOf(t, "META-INF/MANIFEST.MF", []byte("Manifest-Version: 1.0\n")), "type application/java-archive refused"},
		{"zipped exe", zipOf(t, "invoice.exe", pe), "type not allowed"},
		{"iso image", iso, "type not allowed"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "type image/svg+xml refused"},
		{"unknown binary", []byte{0, 1, 2, 3, 0xff, 0xfe, 0, 0}, "type not allowed"},
		{"pdf", []byte("%PDF-1.7\n%%EOF\n"), ""},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), ""},
		{"docx", docx(t), ""},
		{"csv", []byte("a,b,c\n1,2,3\n4,5,6\n"), ""},
		{"calendar", []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"), ""},
		{"text", []byte("Hallo, anbei die Liste.\n"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := fmt.Sprintf("From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"+
				"--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=invoice.pdf\r\n"+
				"Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--B--\r\n", base64.StdEncoding.EncodeToString(tc.content))
			m, err := mime.Parse(strings.NewReader(raw), nullSink{}, mime.ParseOptions{Attachments: pol})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(m.Dropped) > 0 {
				got = m.Dropped[0].Reason
			}
			if got != tc.reason || len(m.Dropped)+len(m.Attachments) != 1 {
				t.Errorf("reason %q, want %q (sniffed %s)", got, tc.reason, mime.Sniff(tc.content))
			}
		})
	}
}

type nullSink struct{}

func (nullSink) Put(r io.Reader) (string, int64, error) {
	n, err := io.Copy(io.Discard, r)
	return "0", n, err
}
