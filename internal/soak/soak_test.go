package soak

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

var (
	flagMails   = flag.Int("mails", 2000, "how many mails the load puts into the mailbox")
	flagKills   = flag.Int("kills", 3, "how many times ticketd is killed with SIGKILL and restarted")
	flagSeed    = flag.Uint64("seed", 0, "seed of the load and of the moments of the faults (0: from the clock)")
	flagRounds  = flag.Int("rounds", 20, "the load is written in this many rounds; faults come between them")
	flagWait    = flag.Duration("settle", 5*time.Minute, "how long the end may wait for the backlog and the outbox to drain")
	flagNatural = flag.Bool("natural-retry", false, "after the SMTP outage, wait for the outbox's own backoff (1 min and more) instead of `ticketd outbox retry`")
	flagRace    = flag.Bool("race", false, "build ticketd with -race")
)

// The erased person: their mails come in the first round, `ticketd subject
// erase` runs in the middle, and at the end nothing of them may be left in
// the data directory.
var erasee = person{name: "Zoë Löschbar", email: "loeschbar@erase.example", lang: "de"}

const eraseeSubject = "Kennung QX7731 Widerspruch"

// oldMails are ingested from files dated years ago before the daemon starts,
// into a queue whose purpose keeps them one year from collection: the
// purge in the middle must delete exactly these.
const oldMails = 20

// TestSoak is the fault and load suite (make soak); see doc.go.
func TestSoak(t *testing.T) {
	if os.Getenv("TICKETD_SOAK") != "1" {
		t.Skip("the fault and load suite runs with TICKETD_SOAK=1 (make soak)")
	}
	began := time.Now()
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	fmt.Printf("soak: seed %d (repeat with -seed %d), %d mails, %d kills, %d rounds\n", seed, seed, *flagMails, *flagKills, *flagRounds)
	rnd := rand.New(rand.NewPCG(seed, 17))

	dc := mailtest.StartDovecot(t)
	pf := mailtest.StartPostfix(t)
	proxy := mailtest.NewProxy(t, pf.Addr)

	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	bin := filepath.Join(dir, "ticketd")
	args := []string{"build", "-o", bin}
	if *flagRace {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "ticketd/cmd/ticketd")...).CombinedOutput(); err != nil {
		t.Fatalf("building ticketd: %v\n%s", err, out)
	}
	d := &daemon{bin: bin, cfg: writeConfig(t, dir, dc, proxy.Addr), sock: filepath.Join(dir, "data", "admin.sock"),
		logPath: filepath.Join(dir, "ticketd.log")}
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			if b, err := os.ReadFile(d.logPath); err == nil {
				lines := strings.Split(string(b), "\n")
				t.Logf("the last lines of ticketd's log:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})

	// Old mail for the purge, before the daemon makes its first checkpoint.
	oldDir := filepath.Join(dir, "old")
	os.Mkdir(oldDir, 0o700)
	var oldFiles []string
	for i := range oldMails {
		p := filepath.Join(oldDir, fmt.Sprintf("old%d.eml", i))
		os.WriteFile(p, []byte(fmt.Sprintf("From: Alt Kunde <alt%d@old.example>\r\nTo: archive@example.com\r\nSubject: Alte Anfrage %d\r\n"+
			"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\nMessage-ID: <old%d@old.example>\r\n\r\nLängst erledigt.\r\n", i, i, i)), 0o600)
		oldFiles = append(oldFiles, p)
	}
	if _, _, err := d.cli(append([]string{"ingest", "-silent"}, oldFiles...)...); err != nil {
		t.Fatal(err)
	}
	if err := d.start(); err != nil {
		t.Fatal(err)
	}
	// Mail already in the folder when ticketd first selects it is imported
	// silently (no acknowledgement): the load starts after that moment.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var st desk.StatusReport
		if d.cliJSON(&st, "status") == nil && len(st.Mailboxes) > 0 && st.Mailboxes[0].UIDValidity != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ticketd did not select the mailbox within a minute")
		}
	}

	g := newGen(seed, max(50, *flagMails/8))
	fx := &faults{}
	var all []sent
	snk := &sink{dir: filepath.Join(pf.Dir, "Maildir"), seen: map[string]bool{}}
	acks := map[string]delivered{}        // by the Message-ID of the customer mail it answers
	ackOf := map[uint64]delivered{}       // a ticket's acknowledgement
	notes := map[uint64][]delivered{}     // a ticket's notifications to the agent
	ticketCustomer := map[uint64]string{} // from the acknowledgements
	byMsgID := map[string]*sent{}
	harvest := func() {
		for _, m := range snk.poll() {
			switch {
			case m.to == "anna@example.com" && strings.Contains(m.replyTo, "+t") && m.ticket != 0:
				notes[m.ticket] = append(notes[m.ticket], m)
			case m.ticket != 0 && m.inReplyTo != "" && byMsgID[m.inReplyTo] != nil && byMsgID[m.inReplyTo].from == m.to:
				acks[m.inReplyTo] = m
				if _, ok := ackOf[m.ticket]; !ok {
					ackOf[m.ticket] = m
					ticketCustomer[m.ticket] = m.to
				}
			}
		}
	}

	rounds := max(1, *flagRounds)
	per := *flagMails / rounds
	sched := planFaults(rnd, rounds, *flagKills)
	fmt.Printf("soak: faults planned: %s\n", sched)
	eraseRound := rounds / 2
	var eraseRep desk.ErasureReport
	var firstRound uint32 // the erased person's mail is among the UIDs up to it
	var peakBacklog int
	written := 0
	write := func(batch []sent, raws [][]byte) {
		dc.WriteMaildir(t, "INBOX", raws)
		written += len(batch)
		all = append(all, batch...)
		for i := range all[len(all)-len(batch):] {
			s := &all[len(all)-len(batch)+i]
			byMsgID[s.msgID] = s
		}
	}
	loadStart := time.Now()
	for r := range rounds {
		n := per
		if r == rounds-1 {
			n = *flagMails - written
		}
		var batch []sent
		var raws [][]byte
		add := func(s sent, raw []byte) { batch = append(batch, s); raws = append(raws, raw) }
		if r == 0 {
			cs, craws := g.corpus("/work/shared/corpus/zammad")
			cs, craws = cs[:min(len(cs), n/4)], craws[:min(len(craws), n/4)]
			for i := range cs {
				add(cs[i], craws[i])
			}
			for range 3 {
				s, raw := g.newMail(kindErasee, erasee)
				raw = []byte(strings.Replace(string(raw), "Subject: ", "Subject: "+eraseeSubject+" ", 1))
				add(s, raw)
			}
		}
		// Tickets the load may answer: acknowledged, and not the erased person's.
		var acked []delivered
		for _, a := range acks {
			if a.to != erasee.email {
				acked = append(acked, a)
			}
		}
		slices.SortFunc(acked, func(a, b delivered) int { return strings.Compare(a.msgID, b.msgID) })
		var noted []uint64
		for tk := range notes {
			if c, ok := ticketCustomer[tk]; ok && c != erasee.email {
				noted = append(noted, tk)
			}
		}
		slices.Sort(noted)
		for len(batch) < n {
			x := g.rnd.IntN(100)
			switch {
			case x < 8 && len(acked) > 0:
				a := acked[g.rnd.IntN(len(acked))]
				p := personOf(g, a.to)
				add(g.reply(p, a))
			case x < 16 && len(noted) > 0:
				tk := noted[g.rnd.IntN(len(noted))]
				ns := notes[tk]
				kind := kindAgentOK
				switch y := g.rnd.IntN(10); {
				case y == 0:
					kind = kindAgentCmd
				case y < 3:
					kind = kindForgeSig
				case y < 5:
					kind = kindForgeFro
				}
				add(g.agentReply(kind, ns[len(ns)-1], ticketCustomer[tk]))
			case x < 19:
				add(g.auto(kindOOO))
			case x < 21:
				add(g.auto(kindBounce))
			case x < 23:
				add(g.auto(kindList))
			case x < 25:
				add(g.poison())
			case x < 30:
				add(g.newMail(kindPayment, g.customer()))
			case x < 35:
				add(g.newMail(kindAttach, g.customer()))
			default:
				add(g.newMail(kindNew, g.customer()))
			}
		}
		write(batch, raws)
		if r == 0 {
			firstRound = uint32(written)
		}
		// The faults of this round, at seeded moments while the backlog drains.
		for _, f := range sched[r] {
			time.Sleep(time.Duration(rnd.IntN(1500)) * time.Millisecond)
			fx.run(t, f, d, dc, proxy)
		}
		if r == eraseRound {
			// The erased person's mail must be in before the erasure.
			waitUID(t, d, firstRound, time.Minute)
			if err := d.cliJSON(&eraseRep, "subject", "erase", erasee.email); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("soak: round %d: erased %s: %d tickets, %d messages elsewhere\n", r, erasee.email, len(eraseRep.Erased.Tickets), len(eraseRep.Erased.Messages))
		}
		// The mailbox fills faster than it drains: the next round comes as
		// soon as the backlog is below two rounds.
		for {
			harvest()
			last := lastUID(d)
			peakBacklog = max(peakBacklog, written-int(last))
			if written-int(last) < 2*per || r == rounds-1 {
				break
			}
			time.Sleep(time.Second) // status reads the whole outbox: not too often
		}
	}
	loadTook := time.Since(loadStart)

	// Drain: every mail imported, every outgoing mail at Postfix.
	settle := time.Now().Add(*flagWait)
	retried := 0
	for lastUID(d) < uint32(written) {
		if time.Now().After(settle) {
			t.Fatalf("the backlog did not drain: %d of %d imported", lastUID(d), written)
		}
		harvest()
		time.Sleep(time.Second)
	}
	// The counts come from status, every few seconds: it reads every
	// outbox item (seconds at 35,000); the whole outbox list only to retry
	// what the outage deferred, and at the end.
	var ob []desk.OutboxView
	lastProgress, lastRetry := time.Now(), time.Time{}
	for {
		harvest()
		var st desk.StatusReport
		if err := d.cliJSON(&st, "status"); err != nil {
			t.Fatal(err)
		}
		pending := st.Outbox.Pending
		if pending > 0 && !*flagNatural && time.Since(lastRetry) > 5*time.Second {
			lastRetry = time.Now()
			ob = nil
			if err := d.cliJSON(&ob, "outbox", "list"); err != nil {
				t.Fatal(err)
			}
			for _, it := range ob {
				if it.Status == store.OutboxPending && it.Attempts > 0 && time.Until(it.NextAttempt) > time.Second {
					// ticketd outbox retry ID, through the socket: hundreds of them.
					if err := d.op(ctx, "outbox.retry", map[string]any{"id": it.ID}, nil); err == nil {
						retried++
					}
				}
			}
		}
		if pending == 0 {
			ob = nil
			if err := d.cliJSON(&ob, "outbox", "list"); err != nil {
				t.Fatal(err)
			}
			if atPostfix(snk, ob) {
				break
			}
		}
		if time.Since(lastProgress) > 30*time.Second {
			lastProgress = time.Now()
			fmt.Printf("soak: draining: %d outgoing mails pending, %d at Postfix\n", pending, len(snk.all))
		}
		if time.Now().After(settle) {
			t.Errorf("the outbox did not drain: %d pending", pending)
			if err := d.cliJSON(&ob, "outbox", "list"); err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(3 * time.Second)
	}
	drainTook := time.Since(loadStart) - loadTook
	harvest()

	rep := reconcile(t, d, dc, snk, all, ob, eraseRep, fx)
	d.stop()
	rep.eraseeInDataDir(t, filepath.Join(dir, "data"), []string{erasee.email, erasee.name, eraseeSubject})
	rep.print(os.Stdout)
	fmt.Printf("soak: kills survived %d, Dovecot restarts %d, SMTP outages (421, then dropped connections) %d, purges %d (deleted %d), erasures %d, key rotations %d\n",
		fx.kills, fx.dovecot, fx.smtp, fx.purges, fx.purged, fx.erasures+1, fx.rotations)
	hwm, anon := d.peak()
	fmt.Printf("soak: ticketd started %d times, peak RSS (VmHWM) %.1f MiB (of it anonymous memory at most %.1f MiB; the rest is the mapped database file), peak backlog %d mails, outbox items retried by hand after the outage %d\n",
		d.starts, float64(hwm)/1024, float64(anon)/1024, peakBacklog, retried)
	fmt.Printf("soak: load %v, drain %v, total %v (GOMAXPROCS %d, load average %s)\n", loadTook.Round(time.Millisecond),
		drainTook.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), runtime.GOMAXPROCS(0), loadavg())
	if rep.failed() {
		t.Errorf("the reconciliation found differences (rows marked DIFF); seed %d", seed)
	}
}

// personOf finds the customer of an address (the load's own people).
func personOf(g *gen, email string) person {
	for _, p := range g.people {
		if p.email == email {
			return p
		}
	}
	return person{name: "Kunde", email: email, lang: "en"}
}

func lastUID(d *daemon) uint32 {
	var st desk.StatusReport
	if err := d.cliJSON(&st, "status"); err != nil {
		return 0
	}
	if len(st.Mailboxes) == 0 {
		return 0
	}
	return st.Mailboxes[0].LastUID
}

func waitUID(t *testing.T, d *daemon, uid uint32, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for lastUID(d) < uid {
		if time.Now().After(deadline) {
			t.Fatalf("UID %d not imported within %v", uid, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// atPostfix says whether every sent outbox item reached Postfix for each recipient.
func atPostfix(s *sink, ob []desk.OutboxView) bool {
	have := map[string]bool{}
	for _, m := range s.all {
		have[m.msgID+" "+m.to] = true
	}
	for _, it := range ob {
		if it.Status != store.OutboxSent {
			continue
		}
		for _, to := range it.To {
			if !have[strings.Trim(it.MessageID, "<>")+" "+rcpt(to)] {
				return false
			}
		}
	}
	return true
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func writeConfig(t *testing.T, dir string, dc *mailtest.Dovecot, smtpAddr string) string {
	t.Helper()
	ih, ip, _ := net.SplitHostPort(dc.Addr)
	sh, sp, _ := net.SplitHostPort(smtpAddr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	os.WriteFile(filepath.Join(dir, "imap.pass"), []byte(dc.Password+"\n"), 0o600)
	cfg := fmt.Sprintf(`[server]
data_dir = "data"
http_listen = %q
public_url = "http://127.0.0.1:8080"
master_key_file = "master.key"

[controller]
name = "Beispiel GmbH"
address = "Musterstraße 1, 10115 Berlin"
email = "datenschutz@example.com"
authority = "Berliner Beauftragte für Datenschutz und Informationsfreiheit, Alt-Moabit 59-61, 10555 Berlin"

[smtp]
host = %q
port = %s
tls = "none"
from = "support@example.com"
timeout = "10s"

[acknowledgement]
max_per_sender = 1000

[[queue]]
name = "support"
purpose = "support"
response_time = "1d"
agents = ["anna@example.com"]

[[queue]]
name = "archive"
purpose = "archive"
response_time = "1d"

[[route]]
queue = "archive"
to = ["archive@example.com"]

[[mailbox]]
name = "support"
address = "support@example.com"
host = %q
port = %s
tls = "none"
username = %q
password_file = "imap.pass"
queue = "support"
command_timeout = "10s"

[[purpose]]
name = "support"
description.de = "Bearbeitung Ihrer Anfrage"
description.en = "Handling your request"
legal_basis = "contract"
retention = "2y"
recipients = ["Beispiel Hosting GmbH (Auftragsverarbeiter)"]
transfers = []
required.de = "Ohne Ihre E-Mail-Adresse können wir Ihnen nicht antworten."
required.en = "Without your email address we cannot answer you."

[[purpose]]
name = "archive"
description.de = "Altbestand"
description.en = "Old records"
legal_basis = "contract"
retention = "1y"
counted_from = "collected"
on_expiry = "delete"
recipients = ["Beispiel Hosting GmbH (Auftragsverarbeiter)"]
transfers = []
required.de = "Ohne Ihre E-Mail-Adresse können wir Ihnen nicht antworten."
required.en = "Without your email address we cannot answer you."

[retention]
schedule = "0 3 1 1 *"
`, httpAddr, sh, sp, ih, ip, dc.Username)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ctx is the reconciliation's context.
var ctx = context.Background()
