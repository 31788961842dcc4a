package soak

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"ticketd/desk"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

// row is one line of the reconciliation: what the load expects and what the
// store, the mailbox and Postfix show.
type row struct {
	what           string
	expected, got  int
	allowDifferent bool // a figure printed for information only
}

type report struct {
	rows  []row
	notes []string // the first few differences, named
}

func (r *report) add(what string, expected, got int) {
	r.rows = append(r.rows, row{what: what, expected: expected, got: got})
}

func (r *report) info(what string, got int) {
	r.rows = append(r.rows, row{what: what, expected: got, got: got, allowDifferent: true})
}

func (r *report) note(format string, args ...any) {
	if len(r.notes) < 30 {
		r.notes = append(r.notes, fmt.Sprintf(format, args...))
	}
}

func (r *report) failed() bool {
	for _, x := range r.rows {
		if !x.allowDifferent && x.expected != x.got {
			return true
		}
	}
	return false
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%-66s %9s %9s  %s\n", "reconciliation", "expected", "found", "")
	fmt.Fprintln(w, strings.Repeat("-", 92))
	for _, x := range r.rows {
		mark := "ok"
		switch {
		case x.allowDifferent:
			mark = ""
		case x.expected != x.got:
			mark = "DIFF"
		}
		exp := strconv.Itoa(x.expected)
		if x.allowDifferent {
			exp = "-"
		}
		fmt.Fprintf(w, "%-66s %9s %9d  %s\n", x.what, exp, x.got, mark)
	}
	for _, n := range r.notes {
		fmt.Fprintln(w, "  "+n)
	}
	fmt.Fprintln(w)
}

// placed is where one mail of the mailbox ended in the store.
type placed struct {
	ticket    uint64
	direction string
	text      string
}

// reconcile reads the store through ticketd's commands (the daemon still
// running, so the per-ticket reads go through its admin socket) and
// compares it, the mailbox and Postfix's Maildir with what the load sent.
func reconcile(t *testing.T, d *daemon, dc *mailtest.Dovecot, snk *sink, all []sent, ob []desk.OutboxView, erased desk.ErasureReport, fx *faults) *report {
	t.Helper()
	r := &report{}

	// Every mail on the server is exactly one ticket message, quarantine
	// entry or erased with its person.
	status := strings.Fields(dc.Doveadm(t, "mailbox", "status", "-u", dc.Username, "messages", "INBOX"))
	onServer := 0
	if len(status) > 0 {
		onServer, _ = strconv.Atoi(strings.TrimPrefix(status[len(status)-1], "messages="))
	}
	r.add("mails on the IMAP server", len(all), onServer)

	// Dovecot gives UIDs in the order it finds the files, which is not the
	// order they were written in when a session synced meanwhile: ask it.
	uidOf := map[string]uint32{}
	var rec []string
	flush := func() {
		if len(rec) > 0 {
			if n, err := strconv.ParseUint(rec[0], 10, 32); err == nil {
				uidOf[strings.Trim(strings.TrimSpace(strings.Join(rec[1:], " ")), "<>")] = uint32(n)
			}
		}
	}
	fetched := dc.Doveadm(t, "-f", "tab", "fetch", "-u", dc.Username, "uid hdr.message-id", "mailbox", "INBOX")
	for _, line := range strings.Split(fetched, "\n")[1:] {
		uid, id, ok := strings.Cut(line, "\t")
		if _, err := strconv.Atoi(uid); ok && err == nil {
			flush()
			rec = []string{uid, id}
		} else {
			rec = append(rec, line)
		}
	}
	flush()
	for i := range all {
		all[i].uid = uidOf[all[i].msgID]
		if all[i].uid == 0 {
			r.note("%s (%s) is not on the server", all[i].msgID, all[i].kind)
		}
	}

	msgs := map[uint32][]placed{}
	tickets := map[uint64]*desk.TicketDetail{}
	after := uint64(0)
	for {
		var pg desk.TicketPage
		if err := d.cliJSON(&pg, "tickets", "list", "-limit", "10000", "-after", strconv.FormatUint(after, 10)); err != nil {
			t.Fatal(err)
		}
		for _, s := range pg.Tickets {
			var td desk.TicketDetail
			if err := d.op(ctx, "tickets.show", map[string]any{"id": s.Number, "json": true}, &td); err != nil {
				t.Fatalf("tickets show %d: %v", s.Number, err)
			}
			tickets[s.Number] = &td
			for _, m := range td.Messages {
				if m.Origin.Channel == desk.ChannelEmail && m.Origin.UID != 0 {
					msgs[m.Origin.UID] = append(msgs[m.Origin.UID], placed{ticket: s.Number, direction: m.Direction, text: m.Subject + "\n" + m.Text})
				}
			}
		}
		if pg.Next == 0 {
			break
		}
		after = pg.Next
	}
	var qs []*store.Quarantine
	if err := d.cliJSON(&qs, "quarantine", "list"); err != nil {
		t.Fatal(err)
	}
	quar := map[uint32]int{}
	for _, q := range qs {
		quar[q.Origin.UID]++
	}

	type tally struct{ sent, asMsg, asQuar, erasedN, missing, twice, wrong int }
	kinds := map[string]*tally{}
	var order []string
	for _, s := range all {
		k := kinds[s.kind]
		if k == nil {
			k = &tally{}
			kinds[s.kind] = k
			order = append(order, s.kind)
		}
		k.sent++
		ps, nq := msgs[s.uid], quar[s.uid]
		switch n := len(ps) + nq; {
		case n == 0 && s.kind == kindErasee:
			k.erasedN++
		case n == 0:
			k.missing++
			r.note("UID %d (%s, %s) is neither a ticket message nor in quarantine", s.uid, s.kind, s.msgID)
		case n > 1:
			k.twice++
			r.note("UID %d (%s) is stored %d times", s.uid, s.kind, n)
		case nq == 1:
			k.asQuar++
			if s.kind != kindPoison && s.kind != kindForgeSig && s.kind != kindCorpus {
				k.wrong++
				r.note("UID %d (%s, %s) went to quarantine", s.uid, s.kind, s.msgID)
			}
		default:
			k.asMsg++
			p := ps[0]
			switch s.kind {
			case kindPoison, kindForgeSig, kindErasee:
				k.wrong++
				r.note("UID %d (%s) is a message of ticket %d (%s)", s.uid, s.kind, p.ticket, p.direction)
			case kindReply, kindAgentOK, kindAgentCmd:
				want := map[string]string{kindReply: store.DirectionIn, kindAgentOK: store.DirectionOut, kindAgentCmd: store.DirectionOut}[s.kind]
				if p.ticket != s.ticket || (s.kind != kindAgentCmd && p.direction != want) {
					k.wrong++
					r.note("UID %d (%s) landed in ticket %d as %q, expected ticket %d", s.uid, s.kind, p.ticket, p.direction, s.ticket)
				}
			case kindForgeFro:
				if p.direction != store.DirectionRefused {
					k.wrong++
					r.note("UID %d (forged sender) is stored as %q in ticket %d", s.uid, p.direction, p.ticket)
				}
			}
		}
	}
	for _, kind := range order {
		k := kinds[kind]
		r.add(fmt.Sprintf("%-20s mails, each stored exactly once", kind), k.sent, k.asMsg+k.asQuar+k.erasedN)
		if k.asQuar > 0 || kind == kindPoison || kind == kindForgeSig {
			r.info(fmt.Sprintf("  %-18s of them in quarantine", kind), k.asQuar)
		}
		if kind == kindErasee {
			r.add("  erased with their person (subject erase)", k.sent, k.erasedN)
		}
		r.add(fmt.Sprintf("  %-18s missing, duplicated or in the wrong place", kind), 0, k.missing+k.twice+k.wrong)
	}
	r.add("tickets erased by subject erase", 3, len(erased.Erased.Tickets))

	// The old tickets ingested at the start went with the purge, and only they.
	r.add("old tickets deleted by the purge (retention 1y from collection)", oldMails, fx.purged)
	for _, n := range fx.purgeDeleted {
		if tickets[n] != nil {
			r.note("purged ticket %d is still listed", n)
		}
	}

	// Postfix: each (Message-ID, recipient) at most twice, twice only after a kill.
	count := map[string]int{}
	for _, m := range snk.all {
		count[m.msgID+" "+m.to]++
	}
	over, twice := 0, 0
	for k, n := range count {
		if n > 2 {
			over++
			r.note("%s delivered %d times", k, n)
		}
		if n == 2 {
			twice++
		}
	}
	r.info("mails accepted by Postfix", len(snk.all))
	r.add("Message-IDs accepted more than twice", 0, over)
	if fx.kills == 0 {
		r.add("Message-IDs accepted twice (no kill, so none)", 0, twice)
	} else {
		r.info("Message-IDs accepted twice (allowed after a kill)", twice)
	}

	// Every outgoing mail the store planned was accepted by Postfix.
	pending, failed, missing := 0, 0, 0
	for _, it := range ob {
		switch it.Status {
		case store.OutboxPending:
			pending++
		case store.OutboxFailed:
			failed++
			r.note("outbox %d (%s, ticket %d) failed: %s", it.ID, it.Kind, it.Ticket, it.LastError)
		case store.OutboxSent:
			for _, to := range it.To {
				if count[strings.Trim(it.MessageID, "<>")+" "+rcpt(to)] == 0 {
					missing++
					r.note("outbox %d (%s) marked sent, but Postfix has no %s for %s", it.ID, it.Kind, it.MessageID, to)
				}
			}
		}
	}
	kindsOut := map[string]int{}
	for _, it := range ob {
		kindsOut[it.Kind]++
	}
	var ks []string
	for k := range kindsOut {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	for _, k := range ks {
		r.info("outbox items: "+k, kindsOut[k])
	}
	retriedItems := 0
	for _, it := range ob {
		if it.Attempts > 1 {
			retriedItems++
		}
	}
	r.info("SMTP connections answered 421 or dropped during the outage", fx.refused)
	r.info("outbox items sent after more than one attempt", retriedItems)
	r.add("outbox items pending or failed at the end", 0, pending+failed)
	r.add("outbox items marked sent that Postfix does not have", 0, missing)

	// Acknowledgements: every new ticket of a customer's mail, at the customer's.
	expAck, gotAck := 0, 0
	acked := map[string]bool{}
	for _, m := range snk.all {
		if m.inReplyTo != "" {
			acked[m.inReplyTo+" "+m.to] = true
		}
	}
	for _, s := range all {
		if s.kind != kindNew && s.kind != kindPayment && s.kind != kindAttach {
			continue
		}
		expAck++
		if acked[s.msgID+" "+s.from] {
			gotAck++
		} else {
			why := "no ticket"
			if ps := msgs[s.uid]; len(ps) > 0 && tickets[ps[0].ticket] != nil && tickets[ps[0].ticket].Ack != nil {
				a := tickets[ps[0].ticket].Ack
				why = a.Status + " " + a.Reason
			}
			r.note("no acknowledgement at Postfix for UID %d (%s): %s", s.uid, s.msgID, why)
		}
	}
	r.add("acknowledgements of new tickets accepted by Postfix", expAck, gotAck)

	// Notifications: one per customer message stored "in", at the agent's.
	notified := map[uint64]int{}
	for _, m := range snk.all {
		if m.to == "anna@example.com" && strings.Contains(m.replyTo, "+t") {
			notified[m.ticket]++
		}
	}
	expNote, gotNote := 0, 0
	for _, s := range all {
		if s.kind != kindNew && s.kind != kindPayment && s.kind != kindAttach && s.kind != kindReply {
			continue
		}
		if ps := msgs[s.uid]; len(ps) == 1 {
			expNote++
			if notified[ps[0].ticket] > 0 {
				gotNote++
			}
		}
	}
	r.add("customer mails whose ticket's agent was notified", expNote, gotNote)

	// Relayed answers reach the customer; forged ones nobody.
	expAns, gotAns, forged, toAuto := 0, 0, 0, 0
	autoSenders := map[string]bool{}
	for _, s := range all {
		switch s.kind {
		case kindOOO, kindBounce, kindList:
			autoSenders[strings.ToLower(s.from)] = true
		}
	}
	for _, m := range snk.all {
		if autoSenders[m.to] {
			toAuto++
			r.note("%s (%q) went to the auto-generated sender %s", m.msgID, m.subject, m.to)
		}
	}
	for _, s := range all {
		switch s.kind {
		case kindAgentOK:
			expAns++
			for _, m := range snk.all {
				if m.to == s.customer && strings.Contains(m.text, s.marker) {
					gotAns++
					break
				}
			}
		case kindForgeSig, kindForgeFro:
			for _, m := range snk.all {
				if m.to != "anna@example.com" && m.to != "mallory@evil.example" && strings.Contains(m.text, s.marker) {
					forged++
					r.note("forged reply %s reached %s", s.msgID, m.to)
				}
			}
		}
	}
	r.add("valid agent replies relayed to the customer", expAns, gotAns)
	r.add("forged agent replies that reached a customer", 0, forged)
	r.add("mails sent to an auto-generated sender (OOO, bounce, list)", 0, toAuto)

	// Payment data: stored redacted.
	unredacted := 0
	for _, s := range all {
		if s.kind != kindPayment {
			continue
		}
		for _, p := range msgs[s.uid] {
			if strings.Contains(p.text, s.card) || strings.Contains(p.text, strings.ReplaceAll(s.card, " ", "")) ||
				strings.Contains(p.text, "DE89 3704") {
				unredacted++
				r.note("ticket %d holds the card number or IBAN of UID %d", p.ticket, s.uid)
			}
		}
	}
	r.add("payment mails stored with a card number or IBAN", 0, unredacted)

	// The audit trail.
	out, _, err := d.cli("audit", "verify")
	ok := 0
	if err == nil && strings.Contains(out, "audit trail ok") {
		ok = 1
	} else {
		r.note("audit verify: %v %s", err, out)
	}
	r.add("ticketd audit verify passes", 1, ok)
	return r
}

// eraseeInDataDir greps every file of the data directory for the erased
// person's address, name and subject (run with the daemon stopped).
func (r *report) eraseeInDataDir(t *testing.T, dataDir string, needles []string) {
	t.Helper()
	found := 0
	files := 0
	filepath.WalkDir(dataDir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		files++
		lower := bytes.ToLower(b)
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) || bytes.Contains(lower, []byte(strings.ToLower(n))) {
				found++
				r.note("%s holds %q", path, n)
			}
		}
		return nil
	})
	r.info("files in the data directory grepped for the erased person", files)
	r.add("places the erased person's address, name or subject was found", 0, found)
}
