package soak

import (
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// delivered is one mail Postfix put into its Maildir: one file per
// envelope recipient, named by Delivered-To.
type delivered struct {
	to, msgID, subject, replyTo, inReplyTo, from string
	ticket                                       uint64
	auto                                         bool   // Auto-Submitted other than "no"
	text                                         string // the raw mail and its quoted-printable decoding, for markers
}

// sink reads what Postfix delivered, each file once.
type sink struct {
	dir  string // Postfix's Maildir
	seen map[string]bool
	all  []delivered
}

var ticketTag = regexp.MustCompile(`\[#(\d+)\]`)

// poll reads the files delivered since the last call and returns them.
func (s *sink) poll() []delivered {
	var out []delivered
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(s.dir, sub))
		for _, e := range ents {
			base, _, _ := strings.Cut(e.Name(), ":")
			if s.seen[base] {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(s.dir, sub, e.Name()))
			if err != nil {
				continue // moved meanwhile: read at the next poll
			}
			s.seen[base] = true
			out = append(out, parseDelivered(raw))
		}
	}
	s.all = append(s.all, out...)
	return out
}

var dec = &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}

func parseDelivered(raw []byte) delivered {
	var d delivered
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		d.text = string(raw)
		return d
	}
	h := m.Header
	d.to = strings.ToLower(strings.TrimSpace(h.Get("Delivered-To")))
	d.msgID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	d.inReplyTo = strings.Trim(strings.TrimSpace(h.Get("In-Reply-To")), "<>")
	if a, err := mail.ParseAddress(h.Get("Reply-To")); err == nil {
		d.replyTo = a.Address
	}
	if a, err := mail.ParseAddress(h.Get("From")); err == nil {
		d.from = strings.ToLower(a.Address)
	}
	if subj, err := dec.DecodeHeader(h.Get("Subject")); err == nil {
		d.subject = subj
	} else {
		d.subject = h.Get("Subject")
	}
	if m := ticketTag.FindStringSubmatch(d.subject); m != nil {
		d.ticket, _ = strconv.ParseUint(m[1], 10, 64)
	}
	as := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted")))
	d.auto = as != "" && as != "no"
	qp, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	d.text = string(raw) + "\n" + string(qp)
	return d
}

// rcpt is an outbox recipient as Postfix's Delivered-To names it: in lower
// case, and without a trailing dot after the domain, which Postfix strips
// (a real-world address of the corpus has one).
func rcpt(to string) string {
	return strings.TrimSuffix(strings.ToLower(to), ".")
}
