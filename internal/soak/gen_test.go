package soak

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

// Kinds of generated mail; each decides what the reconciliation expects.
const (
	kindNew      = "new ticket"        // a customer's first mail: a ticket, an ack, a notification
	kindPayment  = "new, payment data" // the same, with a card number and an IBAN to redact
	kindAttach   = "new, attachments"  // the same, with an allowed and a refused attachment
	kindCorpus   = "real-world mail"   // a mail of the corpus, read in place: a ticket or quarantine
	kindReply    = "customer reply"    // answers an ack: threads into its ticket
	kindAgentOK  = "agent reply"       // a valid agent reply: relayed to the customer
	kindAgentCmd = "agent command"     // a valid agent reply that only carries #close
	kindForgeSig = "forged signature"  // an agent reply address with an altered signature
	kindForgeFro = "forged sender"     // a genuine reply address, From someone else
	kindOOO      = "out-of-office"     // Auto-Submitted: auto-replied; no mail back
	kindBounce   = "bounce (DSN)"      // multipart/report from MAILER-DAEMON; no mail back
	kindList     = "list mail"         // List-Id, Precedence: list; no mail back
	kindPoison   = "poison"            // no sender at all: quarantine
	kindErasee   = "new, later erased" // the erased person's mail
)

// sent is one generated mail, by its place in the mailbox (UID = index+1).
type sent struct {
	uid      uint32
	kind     string
	msgID    string // without brackets; "" for poison without one
	from     string // the envelope-ish sender address ("" for poison)
	customer string // the customer whose ticket it concerns
	ticket   uint64 // the ticket it should land in (replies), 0 when new
	marker   string // a unique word in the text, found again in what is relayed
	card     string // the card number it carried (kindPayment)
}

// person is a customer of the load.
type person struct {
	name, email, lang string
}

var (
	firstNames = map[string][]string{
		"de": {"Jürgen", "Käthe", "Björn", "Ümran", "Grete", "Heinz"},
		"en": {"Alice", "Oliver", "Charlotte", "Harry", "Amelia", "George"},
		"fr": {"Hélène", "François", "Cécile", "Jérôme", "Anaïs", "Noël"},
		"ja": {"さくら", "太郎", "花子", "健一", "美咲", "翔太"},
		"ru": {"Дмитрий", "Анна", "Сергей", "Ольга", "Иван", "Наталья"},
	}
	lastNames = map[string][]string{
		"de": {"Müller", "Schröder", "Weiß", "Groß"},
		"en": {"Smith", "Jones", "Taylor", "Brown"},
		"fr": {"Lefèvre", "Dubois", "Moreau", "Girard"},
		"ja": {"佐藤", "鈴木", "高橋", "田中"},
		"ru": {"Иванов", "Смирнов", "Кузнецов", "Попов"},
	}
	subjects = map[string][]string{
		"de": {"Drucker druckt nicht", "Rechnung falsch berechnet", "Lieferung verspätet", "Passwort vergessen", "Frage zur Größe"},
		"en": {"Printer not printing", "Wrong invoice amount", "Delivery is late", "Forgot my password", "Question about sizes"},
		"fr": {"L'imprimante ne marche pas", "Facture erronée", "Livraison en retard", "Mot de passe oublié", "Question sur la taille"},
		"ja": {"プリンターが動きません", "請求書が間違っています", "配達が遅れています", "パスワードを忘れました", "サイズについて"},
		"ru": {"Принтер не печатает", "Неверный счёт", "Доставка задерживается", "Забыл пароль", "Вопрос о размере"},
	}
	bodies = map[string]string{
		"de": "Sehr geehrte Damen und Herren,\n\nseit gestern funktioniert es nicht mehr. Können Sie mir bitte helfen? Größe, Maß und Übergabe wären wichtig.\n\nMit freundlichen Grüßen\n",
		"en": "Hello,\n\nsince yesterday it no longer works. Could you please help me? It is rather urgent.\n\nKind regards\n",
		"fr": "Bonjour,\n\ndepuis hier cela ne fonctionne plus. Pourriez-vous m'aider ? C'est assez urgent, merci d'avance.\n\nCordialement\n",
		"ja": "お世話になっております。\n\n昨日から動かなくなりました。助けていただけますか。よろしくお願いいたします。\n",
		"ru": "Здравствуйте,\n\nсо вчерашнего дня ничего не работает. Не могли бы вы помочь? Это довольно срочно.\n\nС уважением\n",
	}
	// charsets per language: the body is written in one of them, with one of the transfer encodings.
	charsets = map[string][]string{
		"de": {"iso-8859-1", "utf-8", "windows-1252"},
		"en": {"us-ascii", "utf-8"},
		"fr": {"iso-8859-1", "utf-8", "iso-8859-15"},
		"ja": {"shift_jis", "utf-8", "iso-2022-jp"},
		"ru": {"koi8-r", "utf-8", "windows-1251"},
	}
	langs = []string{"de", "en", "fr", "ja", "ru"}
)

func charsetEncoder(cs string) *encoding.Encoder {
	switch cs {
	case "iso-8859-1":
		return charmap.ISO8859_1.NewEncoder()
	case "iso-8859-15":
		return charmap.ISO8859_15.NewEncoder()
	case "windows-1252":
		return charmap.Windows1252.NewEncoder()
	case "windows-1251":
		return charmap.Windows1251.NewEncoder()
	case "koi8-r":
		return charmap.KOI8R.NewEncoder()
	case "shift_jis":
		return japanese.ShiftJIS.NewEncoder()
	case "iso-2022-jp":
		return japanese.ISO2022JP.NewEncoder()
	}
	return nil // utf-8, us-ascii
}

// gen makes the load; all its randomness comes from one seeded source.
type gen struct {
	rnd    *rand.Rand
	run    string // unique per run, part of every Message-ID
	people []person
	n      int // mails generated so far
}

func newGen(seed uint64, customers int) *gen {
	g := &gen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), run: fmt.Sprintf("s%x", seed&0xffffff)}
	for i := range customers {
		l := langs[i%len(langs)]
		fn, ln := firstNames[l][g.rnd.IntN(len(firstNames[l]))], lastNames[l][g.rnd.IntN(len(lastNames[l]))]
		g.people = append(g.people, person{name: fn + " " + ln, email: fmt.Sprintf("kunde%05d@%s.example", i, l), lang: l})
	}
	return g
}

func (g *gen) customer() person { return g.people[g.rnd.IntN(len(g.people))] }

func (g *gen) msgID(kind string) string {
	g.n++
	return fmt.Sprintf("%s.%d.%s@load.example", kind, g.n, g.run)
}

// header writes the common header fields.
func header(b *bytes.Buffer, from, to, subject, msgID string, extra ...string) {
	fmt.Fprintf(b, "Received: from mx.load.example by imap.example.com; %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	if from != "" {
		fmt.Fprintf(b, "From: %s\r\n", from)
	}
	fmt.Fprintf(b, "To: %s\r\n", to)
	fmt.Fprintf(b, "Subject: %s\r\n", mime.BEncoding.Encode("utf-8", subject))
	fmt.Fprintf(b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	if msgID != "" {
		fmt.Fprintf(b, "Message-ID: <%s>\r\n", msgID)
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\n")
}

func addr(p person) string {
	return mime.QEncoding.Encode("utf-8", p.name) + " <" + p.email + ">"
}

// textPart writes a text/plain part (its header and body) in a charset and
// transfer encoding picked for the language.
func (g *gen) textPart(b *bytes.Buffer, lang, text string) {
	cs := charsets[lang][g.rnd.IntN(len(charsets[lang]))]
	raw := []byte(text)
	if enc := charsetEncoder(cs); enc != nil {
		if out, err := enc.Bytes(raw); err == nil {
			raw = out
		} else {
			cs = "utf-8"
		}
	}
	raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
	switch {
	case cs == "us-ascii":
		fmt.Fprintf(b, "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n%s", raw)
	case cs == "iso-2022-jp":
		fmt.Fprintf(b, "Content-Type: text/plain; charset=iso-2022-jp\r\nContent-Transfer-Encoding: 7bit\r\n\r\n%s", raw)
	case g.rnd.IntN(2) == 0:
		fmt.Fprintf(b, "Content-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", cs)
		w := quotedprintable.NewWriter(b)
		w.Write(raw)
		w.Close()
		b.WriteString("\r\n")
	default:
		fmt.Fprintf(b, "Content-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: base64\r\n\r\n", cs)
		b64(b, raw)
	}
}

func b64(b *bytes.Buffer, raw []byte) {
	s := base64.StdEncoding.EncodeToString(raw)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
}

// newMail is a customer's first mail.
func (g *gen) newMail(kind string, p person) (sent, []byte) {
	id := g.msgID("new")
	marker := fmt.Sprintf("K%dX", g.n)
	subj := subjects[p.lang][g.rnd.IntN(len(subjects[p.lang]))] + " " + marker
	text := bodies[p.lang] + "Ref " + marker + "\n"
	s := sent{kind: kind, msgID: id, from: p.email, customer: p.email, marker: marker}
	if kind == kindPayment {
		s.card = luhnCard(g.rnd)
		text = "Meine Karte " + s.card + " wurde belastet, IBAN DE89 3704 0044 0532 0130 00.\n" + text
	}
	var b bytes.Buffer
	header(&b, addr(p), "support@example.com", subj, id, "Content-Language: "+p.lang)
	if kind != kindAttach {
		g.textPart(&b, p.lang, text)
		return s, b.Bytes()
	}
	boundary := "=_b" + marker
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n--%s\r\n", boundary, boundary)
	g.textPart(&b, p.lang, text)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/pdf; name=\"rechnung.pdf\"\r\nContent-Disposition: attachment; filename=\"rechnung.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary)
	b64(&b, []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"+strings.Repeat("0", 1500)))
	// An executable that calls itself a PDF: refused by its content.
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary)
	elf := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 600)...)
	b64(&b, elf)
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return s, b.Bytes()
}

// luhnCard is a Visa-like 16-digit number with a valid check digit.
func luhnCard(r *rand.Rand) string {
	d := []int{4}
	for len(d) < 15 {
		d = append(d, r.IntN(10))
	}
	sum := 0
	for i := range d { // positions from the right, the check digit at 0
		v := d[len(d)-1-i]
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	d = append(d, (10-sum%10)%10)
	var s strings.Builder
	for i, v := range d {
		if i > 0 && i%4 == 0 {
			s.WriteByte(' ')
		}
		s.WriteByte(byte('0' + v))
	}
	return s.String()
}

// reply answers an acknowledgement as the customer's mail client would.
func (g *gen) reply(p person, a delivered) (sent, []byte) {
	id := g.msgID("re")
	marker := fmt.Sprintf("R%dX", g.n)
	var b bytes.Buffer
	header(&b, addr(p), "support@example.com", "Re: "+a.subject, id,
		"In-Reply-To: <"+a.msgID+">", "References: <"+a.inReplyTo+"> <"+a.msgID+">")
	g.textPart(&b, p.lang, "Danke. Noch eine Frage "+marker+".\n\n> "+a.subject+"\n")
	return sent{kind: kindReply, msgID: id, from: p.email, customer: p.email, ticket: a.ticket, marker: marker}, b.Bytes()
}

// agentReply answers a notification; kind says how genuine it is.
func (g *gen) agentReply(kind string, n delivered, customer string) (sent, []byte) {
	id := g.msgID("agent")
	marker := fmt.Sprintf("A%dX", g.n)
	to, from := n.replyTo, "Anna Agent <anna@example.com>"
	switch kind {
	case kindForgeSig:
		to = alterSignature(to)
	case kindForgeFro:
		from = "Mallory <mallory@evil.example>"
	}
	text := "Guten Tag,\n\nbitte versuchen Sie es erneut " + marker + ".\n\nAnna\n"
	if kind == kindAgentCmd {
		text = "#close\n"
		marker = ""
	}
	var b bytes.Buffer
	header(&b, from, to, "Re: "+n.subject, id, "In-Reply-To: <"+n.msgID+">", "References: <"+n.msgID+">")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(text, "\n", "\r\n"))
	b.WriteString("\r\n> " + n.subject + "\r\n")
	src := "anna@example.com"
	if kind == kindForgeFro {
		src = "mallory@evil.example"
	}
	return sent{kind: kind, msgID: id, from: src, customer: customer, ticket: n.ticket, marker: marker}, b.Bytes()
}

var sigRE = regexp.MustCompile(`\.([A-Za-z0-9_-]+)@`)

// alterSignature changes one character of the reply address's signature.
func alterSignature(a string) string {
	m := sigRE.FindStringSubmatchIndex(a)
	if m == nil {
		return "support+t1.a1.forged@example.com"
	}
	// The signature is lower-case base32 and compared in any case (an MTA
	// may fold the local part), so the altered letter differs in every case.
	i := m[2] + 2
	c := byte('q')
	if a[i] == 'q' || a[i] == 'Q' {
		c = 'r'
	}
	return a[:i] + string(c) + a[i+1:]
}

// auto is mail no one may answer: out-of-office, a bounce, list mail.
func (g *gen) auto(kind string) (sent, []byte) {
	id := g.msgID("auto")
	var b bytes.Buffer
	var from, email string
	switch kind {
	case kindOOO:
		email = fmt.Sprintf("ooo%d@away.example", g.n)
		from = "Abwesend <" + email + ">"
		header(&b, from, "support@example.com", "Abwesenheitsnotiz: bis Montag", id, "Auto-Submitted: auto-replied", "X-Autoreply: yes")
		g.textPart(&b, "de", "Ich bin bis Montag nicht im Büro.\n")
	case kindBounce:
		email = "MAILER-DAEMON@mx.bounce.example"
		from = "Mail Delivery System <" + email + ">"
		header(&b, from, "support@example.com", "Undelivered Mail Returned to Sender", id, "Auto-Submitted: auto-replied")
		bd := "=_dsn" + id
		fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status; boundary=%q\r\n\r\n--%s\r\n", bd, bd)
		b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\nThis is the mail system. Your message could not be delivered.\r\n")
		fmt.Fprintf(&b, "--%s\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.bounce.example\r\n\r\nFinal-Recipient: rfc822; gone@bounce.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n", bd)
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@example.com\r\nTo: gone@bounce.example\r\nSubject: [#1] x\r\n\r\n--%s--\r\n", bd, bd)
	case kindList:
		email = "newsletter@lists.example"
		from = "Newsletter <" + email + ">"
		header(&b, from, "support@example.com", "Unser Newsletter im Dezember", id,
			"List-Id: <news.lists.example>", "Precedence: list", "List-Unsubscribe: <mailto:leave@lists.example>")
		g.textPart(&b, "de", "Neuigkeiten des Monats.\n")
	}
	return sent{kind: kind, msgID: id, from: email}, b.Bytes()
}

// poison is mail ticketd cannot make a ticket of: no sender address at all.
func (g *gen) poison() (sent, []byte) {
	id := g.msgID("poison")
	var b bytes.Buffer
	switch g.rnd.IntN(2) {
	case 0: // no From, Sender or Return-Path
		header(&b, "", "support@example.com", "kaputt", id)
		b.WriteString("Content-Type: text/plain\r\n\r\nno sender\r\n")
	default: // a From that holds no address
		header(&b, "<<<>>> @@@", "support@example.com", "kaputt", id)
		b.WriteString("Content-Type: text/plain\r\n\r\nbroken sender\r\n")
	}
	return sent{kind: kindPoison, msgID: id}, b.Bytes()
}

// corpus reads the real-world mails in place, each with a Message-ID of
// this run in place of its own, so that every one is a mail of its own.
func (g *gen) corpus(dir string) ([]sent, [][]byte) {
	paths, _ := filepath.Glob(filepath.Join(dir, "mail*.eml"))
	sort.Strings(paths)
	var ss []sent
	var raws [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.HasPrefix(raw, []byte("From ")) {
			if i := bytes.IndexByte(raw, '\n'); i >= 0 {
				raw = raw[i+1:]
			}
		}
		id := g.msgID("corpus")
		raw = regexp.MustCompile(`(?im)^message-id:[^\n]*\n`).ReplaceAll(raw, nil)
		raw = append([]byte("Message-ID: <"+id+">\r\n"), raw...)
		ss = append(ss, sent{kind: kindCorpus, msgID: id})
		raws = append(raws, raw)
	}
	return ss, raws
}
