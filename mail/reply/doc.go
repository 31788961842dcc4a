// Package reply cuts the text of a reply into what its author wrote, the
// quoted history and the signature (Strip). It is meant for an agent's
// answer to a ticket, which ticketd is to send on to the customer without
// the history the agent's mail client quoted; nothing in the workflow calls
// it yet.
//
// It works on text: a text/plain body, or the text that mail/mime derives
// from an HTML body (Message.Text when TextFromHTML). HTML quotes lose
// their ">" in that conversion, so the rules below do not depend on it
// where a client quotes in HTML. It is a package of its own, not part of
// mail/mime, because it reads no header field and needs nothing of the
// parser (mail/mime keeps what must share its structured-field scanner);
// it imports only the standard library.
//
// # The rules
//
// Lines are taken as they are (line ends normalised to "\n", invalid UTF-8
// replaced), and every line is one of: the author's (New), quoted history
// (Quote), signature (Signature), or a forward the author passes on
// (Forward). Reply.Parts lists them in order; Text, Quoted and Signature
// are made of input lines only, so nothing is ever added to what the
// author wrote.
//
//   - A line that begins with ">" (after white space, any depth, with or
//     without a space, RFC 3676 section 4.5) is quoted. Every such line is,
//     also without an attribution above it.
//   - An attribution is recognised over up to three lines (Gmail wraps it
//     before the address): "On <date>, <name> wrote:" (also "sent:",
//     "writes:", with dashes around), "Am <date> schrieb <name>:",
//     "<name> schrieb am <date>:", old Gmail's "2014-10-17 11:28 GMT+03:00
//     <name> <addr>:" and GroupWise's ">>> <name> schrieb am <date> in
//     Nachricht <id>:". When ">" lines follow it, it goes with them and
//     the quote ends at the next line of the author's (bottom posting,
//     interleaving); when none follow (HTML, Outlook), everything after it
//     is history, if it names a time of day or an address (a sentence
//     such as "Am Montag schrieb der Kunde Folgendes:" does not, and stays
//     the author's). "<name> wrote:", "<name> schrieb:", "<name> writes:" and
//     mutt's "* <name> <addr> [<date>]:" count only above a ">" line, since
//     such a line may be the author's own text.
//   - Outlook's and Thunderbird's "-----Original Message-----",
//     "-------- Ursprüngliche Nachricht --------" and the like, and an
//     Outlook header block (a From/Von, Sent/Gesendet or Date/Datum field
//     and another of From, Sent, Date, To, Cc, Subject and their German
//     names, after an optional line of underscores), start history that
//     runs to the end.
//   - Signatures: in each block of the author's lines, from the first
//     "-- " line (RFC 3676 section 4.3; "--" too, since many clients drop
//     the space) to the end of the block; else a mobile or webmail footer
//     as the block's last line ("Sent from my iPhone", "Von meinem iPhone
//     gesendet", "Get Outlook for iOS", "Outlook für Android
//     herunterladen", "Sent from/via/with ...", "Gesendet von/mit ...").
//   - A forward the author sends on ("Begin forwarded message:",
//     "Anfang der weitergeleiteten Nachricht:", "---------- Forwarded
//     message ---------", "-------- Weitergeleitete Nachricht --------") is
//     kept whole, its header fields included: the author means the
//     customer to read it. Only where it lies inside quoted history (a
//     reply to a forward) does it go with the quote.
//   - Interleaved replies: every line the author wrote between quotes is
//     kept, the quotes are removed, and Reply.Interleaved says so; the
//     blocks of Text are joined by a blank line and Parts says where each
//     quote stood, so a caller can mark the places.
//
// Lines the rules do not recognise are the author's: when in doubt, text
// is kept, never dropped. Command lines at the top ("#close") are New
// lines like any other and come through unchanged.
//
// # Sources
//
// The rules were learned from the rules and test fixtures of GitHub's
// email_reply_parser (github/email_reply_parser), Mailgun's talon
// (mailgun/talon, its plain-text quotation rules) and
// extended_email_reply_parser (fiedl/extended_email_reply_parser, German
// mail), and from the clients' own settings; the code is ticketd's own.
// The corpus under testdata (corpus_test.go names the source of each
// format) holds replies of Thunderbird, Outlook, Apple Mail and iOS Mail,
// Gmail, mutt, GroupWise, Yahoo and Google Groups, in German and English,
// top, bottom and interleaved, with signatures and forwards, and HTML
// mails that go through mail/mime first. FuzzStrip checks that no input
// panics and that the output is made of the input's lines.
//
// # Limits
//
// A line of the author's that begins with ">" is taken for a quote, and
// two or more lines that look like a header block ("From: ...", "To:
// ...") end the author's text. Attribution lines in other languages than
// English and German are recognised only in the "<name> wrote:" form
// above a ">" quote. An attribution is at most 400 bytes long.
package reply
