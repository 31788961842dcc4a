package reply

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"ticketd/mail/mime"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from Strip's output")

// corpus is every case under testdata and where its format comes from: a
// public test fixture (repository and path), a client's setting or
// documentation, an RFC, or a post to a public mailing list (names and
// addresses replaced). A .txt case is the text of a reply; an .eml case is a
// mail with an HTML body only, whose text comes from mime.Parse's
// HTML-to-text conversion. Each has a .golden with what Strip makes of it.
var corpus = []struct{ file, source string }{
	{"s-nail-tab-indent-en.txt", "s-nail 14.9 (Debian), `reply` with its defaults: the attribution \"\\\"<name>\\\" <addr> wrote:\" and each quoted line indented with a tab (indentprefix, s-nail(1) INTERNAL VARIABLES)"},
	{"s-nail-interleaved-de.txt", "s-nail 14.9 (Debian), two tab-indented quotes with the author's text between them (interleaved), indentprefix of s-nail(1)"},
	{"gmail-top-en.txt", "mailgun/talon tests/text_quotations_test.py test_pattern_on_date_somebody_wrote: \"On <date>, <name> <addr> wrote:\" over a \">\" quote, top posting"},
	{"gmail-wrapped-2-lines-en.txt", "mailgun/talon tests/text_quotations_test.py test_quotation_separator_takes_2_lines: Gmail's attribution wrapped before the address, text below the quote"},
	{"gmail-wrapped-3-lines-en.txt", "mailgun/talon tests/text_quotations_test.py test_quotation_separator_takes_3_lines: attribution over three lines, quote without \">\""},
	{"gmail-leading-space-en.txt", "mailgun/talon tests/text_quotations_test.py test_pattern_on_date_somebody_wrote_allows_space_in_front: attribution indented by one space and wrapped"},
	{"gmail-old-date-en.txt", "mailgun/talon tests/text_quotations_test.py test_date_time_email_splitter: old Gmail \"2014-10-17 11:28 GMT+03:00 <name> <addr>:\" attribution, wrapped"},
	{"on-sent-en.txt", "mailgun/talon tests/text_quotations_test.py test_pattern_on_date_somebody_sent: \"On <date>, <name> sent:\""},
	{"on-wrote-dashes-en.txt", "mailgun/talon tests/text_quotations_test.py test_with_indent: \"------On <date>, <name> wrote-----\" without a colon, quote without \">\""},
	{"apple-mail-en.txt", "mailgun/talon tests/fixtures/standard_replies/apple_mail.eml: Apple Mail's \"On <date>, at <time>, <name> wrote:\""},
	{"iphone-en.txt", "mailgun/talon tests/fixtures/standard_replies/iphone.eml: iPhone Mail, \"Sent from my iPhone\" above the attribution"},
	{"thunderbird-bottom-en.txt", "mailgun/talon tests/fixtures/standard_replies/thunderbird.eml: Thunderbird 3, bottom posting below \"On <date>, <name> wrote:\""},
	{"thunderbird-author-wrote-en.txt", "Thunderbird, reply header \"<name> wrote:\" (mailnews.reply_header_type = 1, the authorwrote string of Thunderbird's mailnews.reply_header_authorwrotesingle); a \">\" quote follows"},
	{"thunderbird-original-message-en.txt", "Thunderbird, reply header \"-------- Original Message --------\" with the original's headers (mailnews.reply_header_type = 4, mailnews.reply_header_originalmessage)"},
	{"reply-wraps-quote-en.txt", "mailgun/talon tests/text_quotations_test.py test_reply_wraps_quotations: text above and below a quote"},
	{"reply-wraps-nested-en.txt", "mailgun/talon tests/text_quotations_test.py test_reply_wraps_nested_quotations: nested quotes, \">\" without a space, depth 2"},
	{"short-quote-en.txt", "mailgun/talon tests/text_quotations_test.py test_short_quotation"},
	{"samsung-footer-attribution-en.txt", "mailgun/talon tests/text_quotations_test.py test_pattern_sent_from_samsung_smb_wrote: Samsung's footer run into the attribution line"},
	{"acompli-chain-en.txt", "mailgun/talon tests/text_quotations_test.py test_short_quotation_with_newline: two attributions without \">\" and an app footer inside the history"},
	{"greedy-on-en.txt", "github/email_reply_parser test/emails/greedy_on.txt: a paragraph starting with \"On\" is the author's; the attribution below it is not"},
	{"second-paragraph-on-en.txt", "github/email_reply_parser test/emails/email_2nd_paragraph_starting_with_on.txt: \"On friday ...\" in the text is no attribution"},
	{"line-starts-with-on-en.txt", "mailgun/talon tests/text_quotations_test.py test_line_starts_with_on: no attribution, nothing removed"},
	{"wrote-without-quote-en.txt", "Thunderbird, reply header \"<name> wrote:\" (mailnews.reply_header_type = 1, the authorwrote string of Thunderbird's mailnews.reply_header_authorwrotesingle): \"<name> wrote:\" in the author's text with no \">\" quote below it is kept"},
	{"outlook-original-message-en.txt", "mailgun/talon tests/text_quotations_test.py test_english_original_message: Outlook's \"-----Original Message-----\""},
	{"outlook-header-block-en.txt", "mailgun/talon tests/text_quotations_test.py test_english_from_block and tests/fixtures/standard_replies/outlook.eml: Outlook's From:/Sent:/To:/Subject: block"},
	{"outlook-underscores-en.txt", "mailgun/talon tests/text_quotations_test.py test_mark_message_lines: Outlook on the web's line of underscores above the From: block, with a mobile footer (Outlook for iOS)"},
	{"outlook-bold-header-en.txt", "mailgun/talon tests/text_quotations_test.py test_bold_from_block: \"*From:*\" fields as a text rendering of Outlook's bold labels, the address wrapped"},
	{"outlook-date-block-en.txt", "mailgun/talon tests/text_quotations_test.py test_from_block_starts_with_date: a header block that starts with Date:"},
	{"outlook-from-to-date-en.txt", "github/email_reply_parser test/emails/email_multiline_quote_header_from_to_date_subject.txt: From:/To:/Date:/Subject: block"},
	{"outlook-crlf-en.txt", "mailgun/talon tests/text_quotations_test.py test_german_from_block with CRLF line ends, as Outlook sends text/plain (RFC 5322 section 2.3)"},
	{"outlook-header-block-de.txt", "mailgun/talon tests/text_quotations_test.py test_german_from_block: Outlook's Von:/Gesendet:/An:/Betreff: block"},
	{"outlook-original-message-de.txt", "mailgun/talon tests/text_quotations_test.py test_german_original_message: Outlook's \"-----Ursprüngliche Nachricht-----\" with its German header block"},
	{"outlook-mailto-de.txt", "fiedl/extended_email_reply_parser spec/email_fixtures/email_de_2.txt: Outlook, German, \"Von: <addr> [mailto:<addr>]\" block below the text and greeting"},
	{"thunderbird-original-message-de.txt", "Thunderbird, German, \"-------- Ursprüngliche Nachricht --------\" with Betreff:/Datum:/Von:/An: (mailnews.reply_header_type = 4, German localisation of mailnews.reply_header_originalmessage)"},
	{"thunderbird-bottom-de.txt", "fiedl/extended_email_reply_parser spec/email_fixtures/email_de_1.txt: Thunderbird, German, \"Am <date> um <time> schrieb <name>:\", the author's text above and below the quote"},
	{"thunderbird-author-schrieb-de.txt", "Thunderbird, reply header \"<name> wrote:\" (mailnews.reply_header_type = 1, the authorwrote string of Thunderbird's mailnews.reply_header_authorwrotesingle), German localisation \"<name> schrieb:\""},
	{"gmail-wrapped-de.txt", "github/email_reply_parser test/emails/quote_reply_german_multiline.txt: Gmail, German, \"Am <date> um <time> Uhr schrieb <name> <\" wrapped before the address"},
	{"gmail-de.txt", "github/email_reply_parser test/emails/quote_reply_german.txt: Gmail, German, attribution on one line"},
	{"gmail-android-schrieb-am-de.txt", "a reply on the public linux-erofs list (lists.ozlabs.org, November 2023; names replaced): Gmail for Android, German, \"<name> <addr> schrieb am Do., 9. Nov. 2023, 00:06:\", interleaved"},
	{"gmail-android-schrieb-am-bottom-de.txt", "a reply on the public samba-technical list (lists.samba.org, October 2021; names replaced): \"<name> <addr> schrieb am Fr., 8. Okt. 2021, 19:22:\" above a quote that holds an English attribution wrapped over two lines"},
	{"google-groups-wrapped-de.txt", "a post on the public jailhouse-dev Google Group (September 2020; names replaced): Google Groups, German, \"<addr> schrieb am Montag, 7. September 2020 um\" wrapped before the time, with the group's \"-- \" footer"},
	{"groupwise-de.txt", "a post on the public git mailing list (July 2020; names replaced): GroupWise, German, \">>> <name> <addr> schrieb am <date> um <time> in\" wrapped over three lines, interleaved"},
	{"yahoo-schrieb-am-de.txt", "a reply on the public linux-media list (September 2010; names replaced): Yahoo Mail, German, \"--- <name> <addr> schrieb am Mi, 8.9.2010:\" inside a quote, with its Von:/Betreff: fields quoted"},
	{"apple-mail-de.txt", "fiedl/extended_email_reply_parser spec/email_fixtures/email_de_4.txt: \"Am <date> um <time> schrieb <name> <addr>:\" as Apple Mail writes it, above a quote without \">\""},
	{"iphone-de.txt", "iOS Mail, German: the footer \"Von meinem iPhone gesendet\" (the German form of mailgun/talon's tests/fixtures/standard_replies/iphone.eml) and \"Am <date> um <time> schrieb <name> <addr>:\""},
	{"mobile-device-de.txt", "fiedl/extended_email_reply_parser spec/email_fixtures/email_de_3.txt: signature set off by lines of underscores with \"Sent via mobile device\", then \"Am ... schrieb ...:\""},
	{"outlook-android-footer-de.txt", "Outlook for Android, German: the footer \"Outlook für Android herunterladen<https://aka.ms/...>\" above its line of underscores and Von:/Gesendet: block"},
	{"mutt-default-en.txt", "mutt manual, $attribution default \"On %d, %n wrote:\" and $indent_string \"> \": interleaved answers"},
	{"mutt-star-attribution.txt", "a muttrc with set attribution = '* %n <%a> [%{%Y-%m-%d %H:%M:%S %Z}]:\\n' (pastebin.com/AePYWGzX), the mutt manual's $attribution expandos"},
	{"mutt-writes.txt", "a muttrc with set attribution=\"%n <%a> writes:\\n\" (chiark.greenend.org.uk, mdw's dot/muttrc); top posting above it"},
	{"quote-no-attribution.txt", "RFC 3676 section 4.5: quoted lines begin with \">\", depth by count, with or without a space; no attribution"},
	{"sig-rfc3676.txt", "RFC 3676 section 4.3: the signature separator \"-- \" (dash dash space)"},
	{"sig-no-space.txt", "github/email_reply_parser lib/email_reply_parser.rb: its SIGNATURE rule accepts \"--\" without the space, which many clients strip"},
	{"sig-above-quote.txt", "Thunderbird, \"start my reply above the quote\" with \"place my signature below my reply (above the quote)\" (mail.identity.*.reply_on_top = 1, sig_bottom = false)"},
	{"sig-dash-in-text.txt", "RFC 3676 section 4.3: only the line \"-- \" is a separator; dashes within a line are text"},
	{"gmail-forward-kept.txt", "mailgun/talon tests/text_quotations_test.py test_dont_parse_quotations_for_forwarded_messages: a forward the author sends on is kept"},
	{"forward-in-quote.txt", "mailgun/talon tests/text_quotations_test.py test_forwarded_message_in_quotations: a forward inside the quoted history goes with it"},
	{"apple-forward-en.txt", "Apple Mail's forward (\"Begin forwarded message:\" and From:/Subject:/Date:/To:), sent on by the author: kept"},
	{"apple-forward-de.txt", "Apple Mail, German forward (\"Anfang der weitergeleiteten Nachricht:\" and Von:/Betreff:/Datum:/An:), sent on by the author: kept"},
	{"apple-forward-quoted.txt", "Apple Mail replying to a forwarded mail: \"Begin forwarded message:\" is quoted below the attribution and goes with the quote"},
	{"thunderbird-forward-de.txt", "Thunderbird, German inline forward \"-------- Weitergeleitete Nachricht --------\" sent on by the author: kept, its headers included"},
	{"commands-top.txt", "issue 14: commands on their own lines at the top of the reply, above the text and a Gmail attribution"},
	{"commands-only.txt", "issue 14: a reply that is only commands, above an Outlook block and a mobile footer"},
	{"false-quote-marker.txt", "mailgun/talon tests/text_quotations_test.py test_quotation_marker_false_positive: talon keeps this line; here every line that begins with \">\" is a quote, so it goes"},
	{"html-gmail-en.eml", "mailgun/talon tests/html_quotations_test.py test_gmail_quote: Gmail's gmail_quote / gmail_attr markup, as text after mail/mime's HTML-to-text"},
	{"html-gmail-de.eml", "a post on the public jailhouse-dev Google Group (September 2020; names replaced), its HTML part: gmail_attr \"<addr> schrieb am Montag, 7. September 2020 um 13:06:24 UTC+2:\""},
	{"html-outlook-en.eml", "mailgun/talon tests/fixtures/standard_replies/outlook.eml, its HTML part: Outlook's bold From:/Sent:/To:/Subject: labels"},
	{"html-outlook-de.eml", "Outlook (Microsoft 365), German: divRplyFwdMsg with <hr> and bold Von:/Gesendet:/An:/Betreff: (the markup of mailgun/talon's Outlook fixtures, German labels as in its test_german_from_block)"},
	{"html-apple-en.eml", "mailgun/talon tests/html_quotations_test.py test_quotation_splitter_inside_blockquote: Apple Mail puts the attribution inside <blockquote type=\"cite\">"},
	{"html-thunderbird-de.eml", "Thunderbird HTML, German: <div class=\"moz-cite-prefix\">Am ... schrieb ...:</div> above <blockquote type=\"cite\">, with its <div class=\"moz-signature\">-- <br>"},
}

// minCorpus is the least number of reply formats the corpus must hold.
const minCorpus = 40

func TestCorpus(t *testing.T) {
	if len(corpus) < minCorpus {
		t.Fatalf("corpus has %d cases, want at least %d", len(corpus), minCorpus)
	}
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, c := range corpus {
		if c.source == "" {
			t.Errorf("%s: no source", c.file)
		}
		if listed[c.file] {
			t.Errorf("%s: listed twice", c.file)
		}
		listed[c.file] = true
	}
	for _, f := range files {
		base := filepath.Base(f)
		ext := filepath.Ext(base)
		switch ext {
		case ".txt", ".eml":
			if !listed[base] {
				t.Errorf("%s is not in the corpus table (add it with its source)", f)
			}
		case ".golden":
			stem := strings.TrimSuffix(base, ext)
			if !listed[stem+".txt"] && !listed[stem+".eml"] {
				t.Errorf("%s belongs to no case", f)
			}
		}
	}
	for _, c := range corpus {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			in := string(raw)
			var out strings.Builder
			if strings.HasSuffix(c.file, ".eml") {
				in = htmlText(t, raw)
				out.WriteString("== html as text\n" + in + "\n")
			}
			r := Strip(in)
			checkSubset(t, in, r)
			out.WriteString(render(r))
			golden(t, strings.TrimSuffix(c.file, filepath.Ext(c.file))+".golden", out.String())
		})
	}
}

// htmlText is the text mime.Parse derives from a mail's HTML body.
func htmlText(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mime.Parse(strings.NewReader(string(raw)), nopSink{}, mime.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.TextFromHTML {
		t.Fatal("the text was not derived from HTML")
	}
	return m.Text
}

type nopSink struct{}

func (nopSink) Put(r io.Reader) (string, int64, error) {
	n, err := io.Copy(io.Discard, r)
	return "", n, err
}

func render(r Reply) string {
	return "== text\n" + r.Text + "\n== signature\n" + r.Signature + "\n== quoted\n" + r.Quoted +
		"\n== interleaved\n" + strconv.FormatBool(r.Interleaved) + "\n"
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestCorpus -update creates it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from Strip's output (go test -run TestCorpus -update rewrites it):\n%s", path, got)
	}
}

// checkSubset checks what every Reply promises: each line of Text, Quoted
// and Signature is a line of the input, each part's lines come in the
// input's order, and the parts together are the whole input.
func checkSubset(t *testing.T, in string, r Reply) {
	t.Helper()
	norm := strings.ReplaceAll(strings.ToValidUTF8(in, "\uFFFD"), "\r\n", "\n")
	lines := strings.Split(norm, "\n")
	var joined []string
	for _, p := range r.Parts {
		joined = append(joined, p.Text)
	}
	if got := strings.Join(joined, "\n"); got != norm {
		t.Errorf("the parts are not the input:\nparts %q\ninput %q", got, norm)
	}
	for _, field := range []string{r.Text, r.Quoted, r.Signature} {
		if field == "" {
			continue
		}
		i := 0
		for _, l := range strings.Split(field, "\n") {
			if l == "" {
				continue // also the blank line that joins two blocks of Text
			}
			j := slices.Index(lines[i:], l)
			if j < 0 {
				t.Errorf("line %q is not an input line after line %d", l, i)
				return
			}
			i += j + 1
		}
	}
}
