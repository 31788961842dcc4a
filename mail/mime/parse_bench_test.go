package mime

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchSink hashes attachment contents and keeps nothing, like a blob
// store that already has every blob.
type benchSink struct {
	buf [32 << 10]byte
}

func (s *benchSink) Put(r io.Reader) (string, int64, error) {
	h := sha256.New()
	var size int64
	for {
		n, err := r.Read(s.buf[:])
		h.Write(s.buf[:n])
		size += int64(n)
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), size, nil
		}
		if err != nil {
			return "", 0, err
		}
	}
}

// BenchmarkParse parses testdata mails: support-qp is a typical support
// mail (quoted-printable text and HTML alternatives, a PDF, a long header),
// the others cover nesting, an HTML-only body and legacy charsets.
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"support-qp", "nested", "html-only", "cp1252-qp", "iso2022jp", "rfc2231-filename"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name+".eml"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			sink := &benchSink{}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(raw), sink, ParseOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQP decodes the quoted-printable text part of support-qp, ten
// times over.
func BenchmarkQP(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "support-qp.eml"))
	if err != nil {
		b.Fatal(err)
	}
	text := raw[bytes.Index(raw, []byte("\r\n\r\nSehr"))+4:]
	text = text[:bytes.Index(text, []byte("\r\n--alt\r\n"))]
	in := bytes.Repeat(text, 10)
	out := make([]byte, 64<<10)
	b.SetBytes(int64(len(in)))
	br := bufio.NewReader(nil)
	for b.Loop() {
		br.Reset(bytes.NewReader(in))
		q := qpReader{br: br}
		for {
			_, err := q.Read(out)
			if err != nil {
				break
			}
		}
	}
}
