package soak

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/mail/mailtest"
)

// Faults, each run between two rounds of the load at a seeded moment.
const (
	faultKill    = "kill"    // SIGKILL to ticketd, then a restart
	faultDovecot = "dovecot" // Dovecot killed and started again
	faultSMTP    = "smtp"    // the relay answers 421, then drops connections, for a while
	faultPurge   = "purge"   // ticketd purge (deletes the old mail ingested at the start)
	faultRotate  = "rotate"  // ticketd keys rotate
)

type schedule map[int][]string

func (s schedule) String() string {
	var rs []int
	for r := range s {
		rs = append(rs, r)
	}
	sort.Ints(rs)
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("round %d: %s", r, strings.Join(s[r], "+")))
	}
	return strings.Join(parts, ", ")
}

// planFaults spreads kills over the rounds and puts the Dovecot restart,
// the SMTP outage, the purge and the key rotation at random rounds in the
// middle; the erasure comes at the middle round (see TestSoak).
func planFaults(rnd *rand.Rand, rounds, kills int) schedule {
	s := schedule{}
	for range kills {
		r := rnd.IntN(rounds)
		s[r] = append(s[r], faultKill)
	}
	mid := func() int { return rounds/4 + rnd.IntN(max(1, rounds/2)) }
	for _, f := range []string{faultDovecot, faultSMTP, faultPurge, faultRotate} {
		r := mid()
		s[r] = append(s[r], f)
	}
	for r := range s {
		rnd.Shuffle(len(s[r]), func(i, j int) { s[r][i], s[r][j] = s[r][j], s[r][i] })
	}
	return s
}

// faults counts what was survived.
type faults struct {
	kills, dovecot, smtp, purges, purged, erasures, rotations int
	refused                                                   int // SMTP connections refused during the outages
	purgeDeleted                                              []uint64
}

// outage is how long the relay answers 421, and then how long it drops connections.
const outage = 3 * time.Second

func (f *faults) run(t *testing.T, what string, d *daemon, dc *mailtest.Dovecot, proxy *mailtest.Proxy) {
	t.Helper()
	switch what {
	case faultKill:
		start := time.Now()
		d.kill()
		if err := d.start(); err != nil {
			t.Fatal(err)
		}
		f.kills++
		fmt.Printf("soak: SIGKILL to ticketd, restarted and answering in %v\n", time.Since(start).Round(time.Millisecond))
	case faultDovecot:
		took := dc.Restart(t)
		f.dovecot++
		fmt.Printf("soak: Dovecot restarted (%v)\n", took.Round(time.Millisecond))
	case faultSMTP:
		before := proxy.Accepted()
		proxy.Refuse("421 4.3.2 Service shutting down, try again later")
		proxy.DropAll() // the session in use too: the next one meets the 421
		time.Sleep(outage)
		proxy.Refuse("")
		proxy.Cut(true)
		proxy.DropAll()
		time.Sleep(outage)
		proxy.Cut(false)
		f.smtp++
		f.refused += proxy.Accepted() - before
		fmt.Printf("soak: SMTP outage: %d connections answered 421 or dropped\n", proxy.Accepted()-before)
	case faultPurge:
		var rep desk.PurgeReport
		if err := d.cliJSON(&rep, "purge"); err != nil {
			t.Fatal(err)
		}
		f.purges++
		f.purged += rep.Deleted
		for _, p := range rep.Tickets {
			f.purgeDeleted = append(f.purgeDeleted, p.Ticket)
		}
		fmt.Printf("soak: purge: %d deleted, %d anonymized\n", rep.Deleted, rep.Anonymized)
	case faultRotate:
		out, _, err := d.cli("keys", "rotate")
		if err != nil {
			t.Fatal(err)
		}
		f.rotations++
		fmt.Printf("soak: keys rotate: %s\n", strings.TrimSpace(out))
	}
}
