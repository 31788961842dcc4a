package store

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// person is what the tests store of one customer.
type person struct {
	email, name, subject, body, msgID string
	small, big                        []byte // attachment contents
	raw                               []byte // a quarantined raw mail
	ticket, id, quarantine            uint64
	sums                              []string // plaintext SHA-256 of the attachments and mails
}

func newPerson(tag string) *person {
	return &person{
		email: tag + ".kundin@example.org", name: "Erika " + tag + " Musterfrau",
		subject: "Rechnung " + tag + " doppelt abgebucht", body: "Mein Geburtstag ist der 3. Mai, " + tag + " geheim",
		msgID: "<" + tag + "-4711@mail.example.org>",
		small: []byte("kleiner Anhang " + tag + " mit Kontonummer"),
		big:   bytes.Repeat([]byte("grosser Anhang "+tag+" "), 9000), // > 64 KiB: a blob file
		raw:   []byte("From: " + tag + ".kundin@example.org\r\nSubject: quarantined " + tag + "\r\n\r\nroher Text " + tag + "\r\n"),
	}
}

func (p *person) needles() [][]byte {
	out := [][]byte{[]byte(p.email), []byte(p.name), []byte(p.subject), []byte(p.body), []byte(p.msgID),
		p.small[:20], p.big[:40], p.raw[:30], []byte("roher Text")}
	for _, s := range p.sums {
		raw, _ := hex.DecodeString(s)
		out = append(out, []byte(s), raw)
	}
	return out
}

func sumHex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// ingest stores p as ingest does: person, ticket, message with two
// attachments, an acknowledgement in the outbox, a consent link and
// decision, and a quarantined raw mail.
func ingest(t *testing.T, db *DB, p *person) {
	t.Helper()
	w := db.NewBlobWriter()
	var atts []Attachment
	for _, c := range [][]byte{p.small, p.big} {
		sum, n, err := w.Put(bytes.NewReader(c))
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, Attachment{Filename: "beleg.pdf", ContentType: "application/pdf", Size: n, SHA256: sum})
	}
	rawSum, _, err := w.Put(bytes.NewReader(p.raw))
	if err != nil {
		t.Fatal(err)
	}
	p.sums = []string{atts[0].SHA256, atts[1].SHA256, rawSum, sumHex([]byte(p.body))}
	err = db.Update(func(tx *Tx) error {
		if err := tx.PutBlobs(w); err != nil {
			return err
		}
		pp, err := tx.EnsurePerson(p.email, p.name, "system")
		if err != nil {
			return err
		}
		p.id = pp.ID
		tk := &Ticket{Subject: p.subject, Status: StatusNew, Queue: "support", RequesterID: pp.ID,
			Origin: Origin{Channel: ChannelEmail, Mailbox: "support", MessageID: p.msgID}}
		if err := tx.CreateTicket(tk, "system"); err != nil {
			return err
		}
		p.ticket = tk.Number
		m := &Message{PersonID: pp.ID, Direction: DirectionIn, From: Address{Name: p.name, Email: p.email}, Subject: p.subject,
			MessageID: p.msgID, Text: p.body, Attachments: atts, ContentHash: p.sums[3]}
		if err := tx.AddMessage(tk, m, DedupKey("support", p.msgID, p.sums[3]), "system"); err != nil {
			return err
		}
		it := &OutboxItem{Ticket: tk.Number, Kind: "acknowledgement", MessageID: "<ack-" + p.msgID[1:], From: "support@example.com",
			To: []string{p.email}, Raw: []byte("To: " + p.name + " <" + p.email + ">\r\n\r\n" + p.body)}
		if err := tx.Enqueue(it, "system"); err != nil {
			return err
		}
		tk.Ack = &Ack{Status: "queued", OutboxID: it.ID, MessageID: it.MessageID}
		if err := tx.UpdateTicket(tk, TicketClosed(tk.Number, "system")); err != nil {
			return err
		}
		if ok, err := tx.TakeAckSlot(p.email, 5, time.Hour); err != nil || !ok {
			return errors.Join(err, errors.New("no ack slot"))
		}
		ct := &ConsentToken{ID: "tok-" + p.msgID[1:5], Ticket: tk.Number, Person: pp.ID, Purpose: "support"}
		if err := tx.RecordConsentToken(ct, "system"); err != nil {
			return err
		}
		if err := tx.RecordConsent(&ConsentRecord{Person: pp.ID, Purpose: "support", Decision: ConsentGranted,
			Channel: "link", TokenID: ct.ID, Ticket: tk.Number}, "system"); err != nil {
			return err
		}
		q := &Quarantine{Reason: "unparsable", Size: int64(len(p.raw)), ContentHash: rawSum, Blob: rawSum,
			Origin: Origin{Channel: ChannelEmail, Mailbox: "support", MessageID: p.msgID}}
		if err := tx.AddQuarantine(q, rawSum, "system"); err != nil {
			return err
		}
		p.quarantine = q.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rawFiles reads every file under dir (the database, the key file, blob
// files, unpacked archives).
func rawFiles(t *testing.T, dirs ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				out[path] = data
			}
			return nil
		})
	}
	return out
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(h.Name))
		os.MkdirAll(filepath.Dir(path), 0o700)
		data, _ := io.ReadAll(tr)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func findNeedles(t *testing.T, files map[string][]byte, needles [][]byte) {
	t.Helper()
	for path, data := range files {
		for _, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("%s holds %q in clear", path, n)
			}
		}
	}
}

// TestRawScanFindsNoPersonalData: after ingest-like writes of known
// personal data, neither the database file, the key file, a blob file nor
// a backup archive holds any of it, nor the SHA-256 of an attachment or mail.
func TestRawScanFindsNoPersonalData(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	defer db.Close()
	p := newPerson("anna")
	ingest(t, db, p)
	if !db.Encrypted() {
		t.Fatal("the store is not encrypted")
	}
	// Everything reads back.
	r, err := db.OpenBlob(p.sums[1])
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, p.big) {
		t.Fatalf("big blob: %d bytes, %v", len(got), err)
	}
	db.View(func(tx *Tx) error {
		pp, err := tx.PersonByEmail(strings.ToUpper(p.email))
		if err != nil || pp.Name != p.name {
			t.Errorf("person by address: %+v %v", pp, err)
		}
		if n, ok := tx.TicketByMessageID(p.msgID); !ok || n != p.ticket {
			t.Errorf("ticket by Message-ID: %d %v", n, ok)
		}
		if _, ok := tx.SeenMail(DedupKey("support", p.msgID, p.sums[3])); !ok {
			t.Error("dedup key not found")
		}
		if !tx.QuarantineSeen("support", p.sums[2]) {
			t.Error("quarantine dedup key not found")
		}
		if h, err := tx.ConsentHistory(p.id); err != nil || len(h) != 1 {
			t.Errorf("consent history: %v %v", h, err)
		}
		return nil
	})
	archive := filepath.Join(t.TempDir(), "backup.tar")
	if _, err := db.BackupArchive(archive, false); err != nil {
		t.Fatal(err)
	}
	unpacked := t.TempDir()
	untar(t, archive, unpacked)
	files := rawFiles(t, dir, unpacked)
	files[archive], _ = os.ReadFile(archive)
	if len(files) < 5 {
		t.Fatalf("only %d files to scan", len(files))
	}
	findNeedles(t, files, p.needles())
}

// erase removes p's tickets (and with the last one, the person).
func erase(t *testing.T, db *DB, p *person) {
	t.Helper()
	err := db.Update(func(tx *Tx) error {
		for _, n := range tx.TicketsOf(p.id) {
			if err := tx.DeleteTicket(n, "admin", "subject erasure"); err != nil {
				return err
			}
		}
		q, err := tx.Quarantine(p.quarantine)
		if err != nil {
			return err
		}
		return tx.DeleteQuarantine(q, "admin", "subject erasure")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Scrub(); err != nil {
		t.Fatal(err)
	}
}

// sealedValues returns the raw sealed values of the data file under key id kid.
func sealedValues(t *testing.T, db *DB, kids ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range sealedBuckets {
			tx.Bucket(name).ForEach(func(k, v []byte) error {
				kid, _, ok := envelope(v)
				for _, want := range kids {
					if ok && kid == want {
						out[string(name)+"/"+string(k)] = bytes.Clone(v)
					}
				}
				return nil
			})
		}
		return nil
	})
	return out
}

// TestErasureReachesOldBackups: a backup made before A's erasure, restored
// with the newest key snapshot, holds B intact and A erased: A's records
// read as erased, count in Shredded, and open with no key of the snapshot.
func TestErasureReachesOldBackups(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	a, b := newPerson("anna"), newPerson("bert")
	ingest(t, db, a)
	ingest(t, db, b)
	old := filepath.Join(t.TempDir(), "old.tar")
	if _, err := db.BackupArchive(old, false); err != nil {
		t.Fatal(err)
	}
	aValues := sealedValues(t, db, personKeyID(a.id), quarantineKeyID(a.quarantine))
	if len(aValues) < 5 {
		t.Fatalf("only %d sealed values of A", len(aValues))
	}
	erase(t, db, a)
	snap := filepath.Join(t.TempDir(), "keys.snap")
	if _, err := db.BackupKeys(snap, false); err != nil {
		t.Fatal(err)
	}
	db.Close()

	restored := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(old, restored, false); err != nil {
		t.Fatal(err)
	}
	if err := RestoreKeysWith(snap, restored, testMaster(dir), false); err != nil {
		t.Fatal(err)
	}
	copyFile(t, testMaster(dir), testMaster(restored))
	rdb := openTest(t, restored)
	defer rdb.Close()
	if n := rdb.Shredded(); n < 5 {
		t.Errorf("Shredded() = %d, want A's records (at least 5)", n)
	}
	rdb.View(func(tx *Tx) error {
		for what, err := range map[string]error{
			"ticket":     func() error { _, err := tx.Ticket(a.ticket); return err }(),
			"person":     func() error { _, err := tx.Person(a.id); return err }(),
			"by address": func() error { _, err := tx.PersonByEmail(a.email); return err }(),
			"quarantine": func() error { _, err := tx.Quarantine(a.quarantine); return err }(),
		} {
			if !errors.Is(err, ErrNotFound) || what != "by address" && !errors.Is(err, ErrShredded) {
				t.Errorf("A's %s: %v, want erased", what, err)
			}
		}
		if h, err := tx.ConsentHistory(a.id); err != nil || len(h) != 0 {
			t.Errorf("A's consent history: %v %v", h, err)
		}
		var tickets []uint64
		if err := tx.Tickets(func(tk *Ticket) bool { tickets = append(tickets, tk.Number); return true }); err != nil || len(tickets) != 1 || tickets[0] != b.ticket {
			t.Errorf("walk of the tickets: %v %v, want B's only", tickets, err)
		}
		tk, err := tx.Ticket(b.ticket)
		if err != nil || tk.Subject != b.subject {
			t.Fatalf("B's ticket: %+v %v", tk, err)
		}
		msgs, err := tx.TicketMessages(b.ticket)
		if err != nil || len(msgs) != 1 || msgs[0].Text != b.body {
			t.Errorf("B's messages: %v %v", msgs, err)
		}
		return nil
	})
	r, err := rdb.OpenBlob(b.sums[1])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, b.big) {
		t.Error("B's attachment does not read back")
	}
	// No key of the snapshot opens any of A's sealed values.
	var keys [][]byte
	rdb.keys.bolt.View(func(tx *bolt.Tx) error {
		master := rdb.keys.masters[string(tx.Bucket(bKMeta).Get([]byte("master")))]
		return tx.Bucket(bKKeys).ForEach(func(k, v []byte) error {
			key, err := unwrapKey(master, string(k), v)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, key)
			return nil
		})
	})
	for where, v := range aValues {
		bucket, rkey, _ := strings.Cut(where, "/")
		_, body, _ := envelope(v)
		for _, k := range keys {
			if _, err := openValue(k, []byte(bucket), []byte(rkey), body); err == nil {
				t.Errorf("A's %s opens with a key of the snapshot", bucket)
			}
		}
	}
	findNeedles(t, rawFiles(t, restored), a.needles())
}

// TestKeyFileForgetsAnErasedKey: after an erasure the key file, free pages
// included, holds no copy of the erased person's wrapped key.
func TestKeyFileForgetsAnErasedKey(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	defer db.Close()
	a, b := newPerson("anna"), newPerson("bert")
	ingest(t, db, a)
	ingest(t, db, b)
	var wrapped [][]byte
	db.keys.bolt.View(func(tx *bolt.Tx) error {
		for _, kid := range []string{personKeyID(a.id), quarantineKeyID(a.quarantine)} {
			wrapped = append(wrapped, bytes.Clone(tx.Bucket(bKKeys).Get([]byte(kid))))
		}
		return nil
	})
	keyFile := filepath.Join(dir, "keys.db")
	raw, _ := os.ReadFile(keyFile)
	for _, w := range wrapped {
		if len(w) == 0 || !bytes.Contains(raw, w) {
			t.Fatal("the wrapped key is not in the key file before the erasure: the test would prove nothing")
		}
	}
	erase(t, db, a)
	raw, _ = os.ReadFile(keyFile)
	for _, w := range wrapped {
		if bytes.Contains(raw, w) {
			t.Error("the key file still holds an erased wrapped key")
		}
	}
	db.View(func(tx *Tx) error {
		if tx.b(bShred).Stats().KeyN != 0 {
			t.Error("the shred bucket was not cleared")
		}
		return nil
	})
	if _, ok, _ := db.keys.get(personKeyID(b.id)); !ok {
		t.Error("B's key went too")
	}
	if _, ok, _ := db.keys.get(personKeyID(a.id)); ok {
		t.Error("A's key is still there (or cached)")
	}
}

// checkAllLive walks every sealed bucket: every value opens, none is erased.
func checkAllLive(t *testing.T, db *DB, after string) {
	t.Helper()
	if n := db.Shredded(); n != 0 {
		t.Errorf("after %s: %d records under a shredded key", after, n)
	}
	db.View(func(tx *Tx) error {
		for _, name := range sealedBuckets {
			tx.b(name).ForEach(func(k, v []byte) error {
				var x any
				if err := tx.decode(name, k, v, &x); err != nil {
					t.Errorf("after %s: %s/%x: %v", after, name, k, err)
				}
				return nil
			})
		}
		return nil
	})
}

// TestLifecycleLeavesNoRecordUnderAShreddedKey: purge, anonymisation,
// offboarding, erasure of a participant, quarantine deletion and a
// person who writes again leave no record that no key opens.
func TestLifecycleLeavesNoRecordUnderAShreddedKey(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	a, b, c := newPerson("anna"), newPerson("bert"), newPerson("carl")
	ingest(t, db, a)
	ingest(t, db, b)
	ingest(t, db, c)
	// C also writes on B's ticket, and an agent answers there.
	err := db.Update(func(tx *Tx) error {
		tk, err := tx.Ticket(b.ticket)
		if err != nil {
			return err
		}
		if err := tx.AddMessage(tk, &Message{PersonID: c.id, Direction: DirectionIn, Text: c.body}, nil, "system"); err != nil {
			return err
		}
		if err := tx.AddMessage(tk, &Message{Direction: DirectionOut, AgentID: 1, Text: "Antwort"}, nil, "system"); err != nil {
			return err
		}
		return tx.Enqueue(&OutboxItem{Ticket: tk.Number, Kind: "agent notification", To: []string{"agent@example.com"}, Raw: []byte(b.body)}, "system")
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAllLive(t, db, "ingest")
	step := func(what string, fn func(tx *Tx) error) {
		t.Helper()
		if err := db.Update(fn); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		checkAllLive(t, db, what)
	}
	step("offboarding", func(tx *Tx) error {
		p, err := tx.Person(b.id)
		if err != nil {
			return err
		}
		p.Offboarded = tx.Now()
		return tx.UpdatePerson(p, PersonOffboarded(p.ID, "admin"))
	})
	step("anonymisation", func(tx *Tx) error { return tx.AnonymizeTicket(b.ticket, "scheduler", "retention") })
	step("purge", func(tx *Tx) error { return tx.DeleteTicket(a.ticket, "scheduler", "retention") })
	step("quarantine deletion", func(tx *Tx) error {
		q, err := tx.Quarantine(a.quarantine)
		if err != nil {
			return err
		}
		return tx.DeleteQuarantine(q, "admin", "deleted")
	})
	step("erasure", func(tx *Tx) error { return tx.DeleteTicket(c.ticket, "admin", "subject erasure") })
	// A writes again: a new person with a new key.
	a2 := newPerson("anna")
	ingest(t, db, a2)
	if a2.id == a.id {
		t.Error("the erased person's id came again")
	}
	checkAllLive(t, db, "a new mail of an erased person")
	step("quarantine retry", func(tx *Tx) error {
		q, err := tx.Quarantine(a2.quarantine)
		if err != nil {
			return err
		}
		return tx.DeleteQuarantine(q, "system", "retried")
	})
}

// TestRotationUnderConcurrentWrites: writers go on while the master key
// is rotated; afterwards everything opens with the new master key only.
func TestRotationUnderConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	oldMaster, _ := os.ReadFile(testMaster(dir))
	for i := range 50 {
		fill(t, db, "vorher"+string(rune('a'+i%26))+strings.Repeat("x", i)+"@example.org", "")
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var errs []error
	var mu sync.Mutex
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := db.Update(func(tx *Tx) error {
					p, err := tx.EnsurePerson(strings.Repeat("w", g+1)+string(rune('a'+i%26))+strings.Repeat("y", i)+"@example.org", "Name", "system")
					if err != nil {
						return err
					}
					return tx.CreateTicket(&Ticket{Subject: "während", RequesterID: p.ID}, "system")
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	var infos []RotateInfo
	for range 3 {
		info, err := db.RotateMasterKey()
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, info)
	}
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if infos[0].Keys < 50 || infos[0].MasterID == infos[2].MasterID {
		t.Errorf("rotations: %+v", infos)
	}
	count := func(db *DB) (people, tickets int) {
		db.View(func(tx *Tx) error {
			if err := forEachRec(tx, bPeople, func(*Person) bool { people++; return true }); err != nil {
				t.Error(err)
			}
			if err := tx.Tickets(func(*Ticket) bool { tickets++; return true }); err != nil {
				t.Error(err)
			}
			return nil
		})
		return
	}
	people, tickets := count(db)
	db.Close()
	if _, err := os.Stat(testMaster(dir) + ".new"); err == nil {
		t.Error("master.new left behind")
	}
	newMaster, _ := os.ReadFile(testMaster(dir))
	if bytes.Equal(newMaster, oldMaster) {
		t.Fatal("the master key file did not change")
	}
	// Everything opens with the new master key, nothing is erased.
	db = openTest(t, dir)
	if p, tk := count(db); p != people || tk != tickets || db.Shredded() != 0 {
		t.Errorf("after reopening: %d people %d tickets (%d shredded), want %d %d", p, tk, db.Shredded(), people, tickets)
	}
	db.Close()
	// The old master key no longer opens the key file.
	oldPath := filepath.Join(t.TempDir(), "old.key")
	os.WriteFile(oldPath, oldMaster, 0o600)
	if _, err := Open(dir, Options{MasterKeyFile: oldPath}); !errors.Is(err, ErrMasterKey) {
		t.Errorf("open with the old master key: %v, want ErrMasterKey", err)
	}
}

// TestInterruptedRotationCompletesOnOpen: a rotation that re-wrapped the
// keys but did not rename <master>.new is completed by Open.
func TestInterruptedRotationCompletesOnOpen(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	fill(t, db, "erika@example.org", "a1@example.org")
	oldMaster, _ := os.ReadFile(testMaster(dir))
	if _, err := db.RotateMasterKey(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Put the state back to just before the rename.
	if err := os.Rename(testMaster(dir), testMaster(dir)+".new"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(testMaster(dir), oldMaster, 0o600)
	newMaster, _ := os.ReadFile(testMaster(dir) + ".new")
	db = openTest(t, dir)
	defer db.Close()
	if got, _ := os.ReadFile(testMaster(dir)); !bytes.Equal(got, newMaster) {
		t.Error("the rotation was not completed")
	}
	if _, err := os.Stat(testMaster(dir) + ".new"); err == nil {
		t.Error("master.new left behind")
	}
	db.View(func(tx *Tx) error {
		if _, err := tx.PersonByEmail("erika@example.org"); err != nil {
			t.Error(err)
		}
		return nil
	})
}

// TestOpenRefusesAWrongOrMissingMasterKey: a wrong, missing, truncated or
// exposed master key refuses to open with an error that says what is
// wrong, and changes no byte of the data file, the key file or the key.
func TestOpenRefusesAWrongOrMissingMasterKey(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	fill(t, db, "erika@example.org", "a1@example.org")
	db.Close()
	master := testMaster(dir)
	good, _ := os.ReadFile(master)
	snapshot := func() map[string][]byte {
		return map[string][]byte{"ticketd.db": must(os.ReadFile(filepath.Join(dir, "ticketd.db"))),
			"keys.db": must(os.ReadFile(filepath.Join(dir, "keys.db")))}
	}
	before := snapshot()
	for name, tc := range map[string]struct {
		setup func()
		want  func(error) bool
	}{
		"wrong": {func() { os.WriteFile(master, bytes.Repeat([]byte{1}, 32), 0o600) }, func(err error) bool { return errors.Is(err, ErrMasterKey) }},
		"missing": {func() { os.Remove(master) }, func(err error) bool {
			return errors.Is(err, fs.ErrNotExist) && strings.Contains(err.Error(), master) && strings.Contains(err.Error(), "restore")
		}},
		"truncated": {func() { os.WriteFile(master, good[:16], 0o600) }, func(err error) bool { return strings.Contains(err.Error(), "16 bytes, want 32") }},
		"exposed":   {func() { os.WriteFile(master, good, 0o600); os.Chmod(master, 0o644) }, func(err error) bool { return strings.Contains(err.Error(), "group or others") }},
		"none":      {func() {}, func(err error) bool { return strings.Contains(err.Error(), "encrypted") }},
	} {
		os.Remove(master)
		tc.setup()
		keyBefore, _ := os.ReadFile(master)
		opts := Options{MasterKeyFile: master}
		if name == "none" {
			opts.MasterKeyFile = ""
		}
		db, err := Open(dir, opts)
		if err == nil {
			db.Close()
			t.Errorf("%s: opened", name)
			continue
		}
		if !tc.want(err) {
			t.Errorf("%s: %v", name, err)
		}
		for f, data := range snapshot() {
			if !bytes.Equal(data, before[f]) {
				t.Errorf("%s: %s changed", name, f)
			}
		}
		if keyAfter, _ := os.ReadFile(master); !bytes.Equal(keyAfter, keyBefore) {
			t.Errorf("%s: the master key file changed", name)
		}
	}
	os.Remove(master)
	os.WriteFile(master, good, 0o600)
	// A master key inside the data directory would go into every backup.
	inDir := filepath.Join(dir, "master.key")
	os.WriteFile(inDir, good, 0o600)
	if _, err := Open(dir, Options{MasterKeyFile: inDir}); err == nil || !strings.Contains(err.Error(), "inside the data directory") {
		t.Errorf("master key inside the data directory: %v", err)
	}
	os.Remove(inDir)
	// A key file that is gone is not made anew over an encrypted store.
	os.Rename(filepath.Join(dir, "keys.db"), filepath.Join(dir, "keys.away"))
	if _, err := Open(dir, Options{MasterKeyFile: master}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "key snapshot") {
		t.Errorf("open without the key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys.db")); err == nil {
		t.Error("a new key file was made")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestMovedSealedValueDoesNotOpen: a sealed value copied to another
// record key or bucket fails to open, and a walk reports it, never skips it.
func TestMovedSealedValueDoesNotOpen(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	tk1 := fill(t, db, "erika@example.org", "a1@example.org")
	tk2 := fill(t, db, "max@example.org", "a2@example.org")
	db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bTickets)
		return b.Put(be64(tk2.Number), bytes.Clone(b.Get(be64(tk1.Number))))
	})
	db.View(func(tx *Tx) error {
		if _, err := tx.Ticket(tk2.Number); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "tampered") {
			t.Errorf("moved value: %v", err)
		}
		if err := tx.Tickets(func(*Ticket) bool { return true }); err == nil {
			t.Error("the walk skipped a damaged record")
		}
		return nil
	})
	// A key id changed to one that is no key's, or to another person's, is
	// damage too, never an erasure.
	for _, kid := range []string{"z" + personKeyID(1)[1:], personKeyID(2)} {
		db.bolt.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bTickets)
			v := bytes.Clone(b.Get(be64(tk1.Number)))
			copy(v[2:], kid)
			return b.Put(be64(tk1.Number), v)
		})
		db.View(func(tx *Tx) error {
			if _, err := tx.Ticket(tk1.Number); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("key id %q: %v, want damage", kid, err)
			}
			return nil
		})
	}
}

// TestBlobFileTamperingIsDetected: a truncated, extended or reordered blob
// file fails to open; a flipped byte fails to read.
func TestBlobFileTamperingIsDetected(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	tk := fill(t, db, "erika@example.org", "a1@example.org")
	content := make([]byte, 3*segSize+100)
	for i := range content {
		content[i] = byte(i * 7)
	}
	sum := withAttachment(t, db, tk, content)
	path := db.Blobs.path(db.Blobs.name(sum))
	good, _ := os.ReadFile(path)
	read := func() ([]byte, error) {
		r, err := db.OpenBlob(sum)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r)
	}
	if got, err := read(); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("intact: %v", err)
	}
	seg := func(i int) []byte { return good[blobHdrSize+i*segSealed : blobHdrSize+(i+1)*segSealed] }
	for name, data := range map[string][]byte{
		"truncated at a segment": good[:blobHdrSize+2*segSealed],
		"truncated in a segment": good[:len(good)-10],
		"extended":               append(bytes.Clone(good), seg(0)...),
		"reordered":              bytes.Join([][]byte{good[:blobHdrSize], seg(1), seg(0), good[blobHdrSize+2*segSealed:]}, nil),
		"flipped":                func() []byte { d := bytes.Clone(good); d[len(d)/2] ^= 1; return d }(),
		"header":                 func() []byte { d := bytes.Clone(good); d[20] ^= 1; return d }(),
	} {
		os.WriteFile(path, data, 0o600)
		if got, err := read(); err == nil {
			t.Errorf("%s: read %d bytes without an error", name, len(got))
		}
	}
}

// TestMigrationOfAPlaintextStore: a store written without encryption is
// encrypted in place when opened with a master key: every record reads
// back, and no personal data is left in clear in any file.
func TestMigrationOfAPlaintextStore(t *testing.T) {
	dir := t.TempDir()
	db := openPlain(t, dir)
	p := newPerson("anna")
	ingest(t, db, p)
	var before []byte
	db.View(func(tx *Tx) error {
		tk, _ := tx.Ticket(p.ticket)
		msgs, _ := tx.TicketMessages(p.ticket)
		before = must(marshalJSON([]any{tk, msgs}))
		return nil
	})
	plainBlob := filepath.Join(dir, "blobs", p.sums[1][:2], p.sums[1])
	if _, err := os.Stat(plainBlob); err != nil {
		t.Fatalf("the plaintext store has no blob file to migrate: %v", err)
	}
	db.Close()
	if raw, _ := os.ReadFile(filepath.Join(dir, "ticketd.db")); !bytes.Contains(raw, []byte(p.email)) {
		t.Fatal("the plaintext store holds no address in clear: the test would prove nothing")
	}

	db = openTest(t, dir)
	if !db.Encrypted() {
		t.Fatal("not encrypted after the migration")
	}
	db.View(func(tx *Tx) error {
		tk, err := tx.Ticket(p.ticket)
		if err != nil {
			t.Fatal(err)
		}
		msgs, _ := tx.TicketMessages(p.ticket)
		if after := must(marshalJSON([]any{tk, msgs})); !bytes.Equal(after, before) {
			t.Errorf("records differ after the migration:\n%s\n%s", before, after)
		}
		if pp, err := tx.PersonByEmail(p.email); err != nil || pp.ID != p.id {
			t.Errorf("person by address: %v", err)
		}
		if _, ok := tx.SeenMail(DedupKey("support", p.msgID, p.sums[3])); !ok {
			t.Error("dedup key lost")
		}
		if !tx.QuarantineSeen("support", p.sums[2]) {
			t.Error("quarantine dedup key lost")
		}
		if h, _ := tx.ConsentHistory(p.id); len(h) != 1 {
			t.Error("consent history lost")
		}
		if tx.BlobPlace(p.sums[1]) == "" || tx.BlobPlace(p.sums[0]) != "database" {
			t.Error("blob places lost")
		}
		return nil
	})
	for i, want := range [][]byte{p.small, p.big, p.raw} {
		r, err := db.OpenBlob(p.sums[i])
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("blob %d differs after the migration", i)
		}
	}
	if _, err := os.Stat(plainBlob); err == nil {
		t.Error("the plaintext blob file is still there")
	}
	checkAllLive(t, db, "migration")
	db.Close()
	findNeedles(t, rawFiles(t, dir), p.needles())
	// Without the master key the migrated store no longer opens.
	if _, err := Open(dir, Options{}); err == nil {
		t.Error("the encrypted store opened without its master key")
	}
}

// FuzzOpenSealed: the decoders of sealed values and blob files never panic.
func FuzzOpenSealed(f *testing.F) {
	key := bytes.Repeat([]byte{9}, 32)
	v, _ := sealValue("p12345678", key, bTickets, be64(1), []byte(`{"a":1}`))
	f.Add(v)
	var file bytes.Buffer
	g, _ := newGCM(key)
	file.Write(make([]byte, blobHdrSize))
	sw := &segWriter{w: &file, g: g}
	sw.Write(bytes.Repeat([]byte("x"), segSize+10))
	sw.Close()
	f.Add(file.Bytes())
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 255, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, body, ok := envelope(data); ok {
			openValue(key, bTickets, be64(1), body)
		}
		openValue(key, bTickets, be64(1), data)
		openSmallBlob(key, "x", data)
		decryptAll(data, key)
	})
}

// TestArchiveOfAPlaintextStoreStillRestores: an archive made before
// encryption (format 1, blobs named by their SHA-256) restores, and the
// restored store is encrypted when opened with a master key. An archive
// of an encrypted store says it holds no person keys.
func TestArchiveOfAPlaintextStoreStillRestores(t *testing.T) {
	dir := t.TempDir()
	db := openPlain(t, dir)
	p := newPerson("anna")
	ingest(t, db, p)
	archive := filepath.Join(t.TempDir(), "old.tar")
	if _, err := db.BackupArchive(archive, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	restored := filepath.Join(t.TempDir(), "data")
	info, err := Restore(archive, restored, false)
	if err != nil || info.Format != BackupFormat {
		t.Fatalf("restore: %+v %v", info, err)
	}
	db = openTest(t, restored)
	if !db.Encrypted() {
		t.Fatal("the restored plaintext store was not encrypted on open")
	}
	db.View(func(tx *Tx) error {
		if pp, err := tx.PersonByEmail(p.email); err != nil || pp.Name != p.name {
			t.Errorf("person: %v", err)
		}
		return nil
	})
	sealed := filepath.Join(t.TempDir(), "new.tar")
	if _, err := db.BackupArchive(sealed, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	unpacked := t.TempDir()
	untar(t, sealed, unpacked)
	man := string(must(os.ReadFile(filepath.Join(unpacked, "MANIFEST.json"))))
	if !strings.Contains(man, BackupFormatSealed) || !strings.Contains(man, "holds no person keys") {
		t.Errorf("manifest: %s", man)
	}
	if _, err := os.Stat(filepath.Join(unpacked, "keys.db")); err == nil {
		t.Error("the archive holds the key file")
	}
}

// TestReadOnlyOpenOfAnEncryptedStore: a read-only open reads the sealed
// records and writes nothing.
func TestReadOnlyOpenOfAnEncryptedStore(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	fill(t, db, "erika@example.org", "a1@example.org")
	db.Close()
	before := must(os.ReadFile(filepath.Join(dir, "keys.db")))
	ro, err := Open(dir, Options{ReadOnly: true, MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	ro.View(func(tx *Tx) error {
		if p, err := tx.PersonByEmail("erika@example.org"); err != nil || p.Name == "" {
			t.Errorf("read-only: %v", err)
		}
		return nil
	})
	ro.Close()
	if !bytes.Equal(before, must(os.ReadFile(filepath.Join(dir, "keys.db")))) {
		t.Error("a read-only open changed the key file")
	}
}

// TestOpenFinishesPendingShreds: a key whose record was deleted by a
// commit, but not yet from the key file (a crash in between), is deleted
// by the next Open.
func TestOpenFinishesPendingShreds(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	fill(t, db, "erika@example.org", "a1@example.org")
	kid := personKeyID(1)
	// What DeletePerson's transaction commits, without what follows it.
	db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bShred).Put([]byte(kid), nil) })
	db.Close()
	db = openTest(t, dir)
	defer db.Close()
	if _, ok, _ := db.keys.get(kid); ok {
		t.Error("the key of the pending shred is still in the key file")
	}
	db.View(func(tx *Tx) error {
		if tx.b(bShred).Stats().KeyN != 0 {
			t.Error("the shred bucket was not cleared")
		}
		return nil
	})
}

// TestOrphanKeyOfARolledBackTransaction: a key written for a transaction
// that then failed is used again when its record id comes again.
func TestOrphanKeyOfARolledBackTransaction(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	boom := errors.New("boom")
	if err := db.Update(func(tx *Tx) error {
		if _, err := tx.EnsurePerson("erika@example.org", "Erika", "system"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error {
		_, err := tx.EnsurePerson("max@example.org", "Max", "system")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		if p, err := tx.PersonByEmail("max@example.org"); err != nil || p.Name != "Max" {
			t.Errorf("person: %+v %v", p, err)
		}
		if _, err := tx.PersonByEmail("erika@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("rolled back person: %v", err)
		}
		return nil
	})
	checkAllLive(t, db, "a rolled back transaction")
}

// TestMigrationThatFailsLeavesThePlaintextStore: a migration whose
// transaction does not commit leaves the plaintext store readable as it
// was; the next open migrates it, and no plaintext blob file is left.
func TestMigrationThatFailsLeavesThePlaintextStore(t *testing.T) {
	dir := t.TempDir()
	db := openPlain(t, dir)
	p := newPerson("anna")
	ingest(t, db, p)
	db.Close()
	migrateHook = func() error { return errors.New("crash") }
	_, err := Open(dir, Options{MasterKeyFile: testMaster(dir)})
	migrateHook = nil
	if err == nil || !strings.Contains(err.Error(), "crash") {
		t.Fatalf("open with a failing migration: %v", err)
	}
	db = openPlain(t, dir)
	db.View(func(tx *Tx) error {
		if pp, err := tx.PersonByEmail(p.email); err != nil || pp.Name != p.name {
			t.Errorf("the plaintext store after a failed migration: %v", err)
		}
		return nil
	})
	db.Close()
	db = openTest(t, dir)
	r, err := db.OpenBlob(p.sums[1])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, p.big) {
		t.Error("the big blob differs after the second migration")
	}
	checkAllLive(t, db, "a second migration")
	db.Close()
	findNeedles(t, rawFiles(t, dir), p.needles())
}

// TestKeySnapshots: a snapshot is 0600, holds live keys only, is not
// replaced without force, and restores as the key file only when it is one
// and the master key opens it.
func TestKeySnapshots(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	defer db.Close()
	for _, f := range []string{testMaster(dir), filepath.Join(dir, "keys.db")} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi.Mode(), err)
		}
	}
	a, b := newPerson("anna"), newPerson("bert")
	ingest(t, db, a)
	ingest(t, db, b)
	var wrapped []byte
	db.keys.bolt.View(func(tx *bolt.Tx) error {
		wrapped = bytes.Clone(tx.Bucket(bKKeys).Get([]byte(personKeyID(a.id))))
		return nil
	})
	erase(t, db, a)
	snap := filepath.Join(t.TempDir(), "keys.snap")
	info, err := db.BackupKeys(snap, false)
	if err != nil {
		t.Fatal(err)
	}
	if info.Keys != 3+2 || info.MasterID == "" || info.Size == 0 { // the system keys, B's person and quarantine keys
		t.Errorf("snapshot info %+v", info)
	}
	if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode: %v %v", fi.Mode(), err)
	}
	if raw := must(os.ReadFile(snap)); bytes.Contains(raw, wrapped) {
		t.Error("the snapshot holds the erased key")
	}
	if _, err := db.BackupKeys(snap, false); !errors.Is(err, ErrExists) {
		t.Errorf("snapshot over a file: %v", err)
	}
	target := t.TempDir()
	if err := RestoreKeys(filepath.Join(dir, "ticketd.db"), target, false); err == nil {
		t.Error("a data file restored as a key file")
	}
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	os.WriteFile(wrong, bytes.Repeat([]byte{3}, 32), 0o600)
	if err := RestoreKeysWith(snap, target, wrong, false); !errors.Is(err, ErrMasterKey) {
		t.Errorf("restore with a wrong master key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "keys.db")); err == nil {
		t.Error("a refused restore put a key file in place")
	}
	if err := RestoreKeysWith(snap, target, testMaster(dir), false); err != nil {
		t.Fatal(err)
	}
	if err := RestoreKeys(snap, target, false); !errors.Is(err, ErrExists) {
		t.Errorf("restore over a key file: %v", err)
	}
	if err := RestoreKeys(snap, target, true); err != nil {
		t.Errorf("restore with force: %v", err)
	}
}

// TestRestoreOverTheLiveStoreKeepsItsKeyFile: restoring an old archive
// with force over the store it came from moves the old data aside and
// keeps the key file in place: the newest keys read the copy, and what was
// erased since stays erased.
func TestRestoreOverTheLiveStoreKeepsItsKeyFile(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	a, b := newPerson("anna"), newPerson("bert")
	ingest(t, db, a)
	ingest(t, db, b)
	old := filepath.Join(t.TempDir(), "old.tar")
	if _, err := db.BackupArchive(old, false); err != nil {
		t.Fatal(err)
	}
	erase(t, db, a)
	db.Close()
	info, err := Restore(old, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(info.Replaced, "keys.db")); err == nil {
		t.Error("the key file was moved aside")
	}
	db = openTest(t, dir)
	defer db.Close()
	db.View(func(tx *Tx) error {
		if _, err := tx.Ticket(a.ticket); !errors.Is(err, ErrShredded) {
			t.Errorf("A's ticket: %v, want erased", err)
		}
		if tk, err := tx.Ticket(b.ticket); err != nil || tk.Subject != b.subject {
			t.Errorf("B's ticket: %v", err)
		}
		return nil
	})
	if db.Shredded() == 0 {
		t.Error("nothing counted as erased")
	}
}
