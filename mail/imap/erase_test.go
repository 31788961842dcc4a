package imap_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"ticketd/config"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
)

func eraseMail(id, subject string) []byte {
	return fmt.Appendf(nil, "From: Erika <erika@example.org>\r\nTo: support@example.com\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nbody\r\n", subject, id)
}

func boxFor(t *testing.T, acct *mailtest.Account) *config.Mailbox {
	t.Helper()
	host, port, err := net.SplitHostPort(acct.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return &config.Mailbox{Name: "support", Host: host, Port: p, TLS: "none", Username: acct.Username, Password: acct.Password,
		Folder: "INBOX", MoveTo: "Archive", CommandTimeout: config.Duration{Duration: 5 * time.Second}}
}

// subjects lists the subjects of the mails in folder, sorted.
func subjects(t *testing.T, acct *mailtest.Account, folder string) []string {
	t.Helper()
	var out []string
	for _, m := range acct.Folder(t, folder) {
		for line := range strings.SplitSeq(string(m.Raw), "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// testDeleteCopies deletes two Message-IDs from INBOX and Archive and leaves
// everything else, including a mail whose Message-ID contains one of them.
// withUIDPlus says whether the server expunges by UID; without it EXPUNGE
// also removes a stranger's mail flagged \Deleted.
func testDeleteCopies(t *testing.T, acct *mailtest.Account, withUIDPlus bool) {
	acct.Create(t, "Archive")
	acct.Append(t, "INBOX", eraseMail("a1@example.org", "erase-1"))
	acct.Append(t, "INBOX", eraseMail("xa1@example.org", "keep-substring"))
	acct.Append(t, "INBOX", eraseMail("C2@example.org", "erase-2"))
	acct.Append(t, "INBOX", eraseMail("other@example.org", "flagged-deleted"), goimap.FlagDeleted)
	acct.Append(t, "INBOX", eraseMail("keep@example.org", "keep-other"))
	acct.Append(t, "Archive", eraseMail("a1@example.org", "erase-3"))
	acct.Append(t, "Archive", eraseMail("keep2@example.org", "keep-archived"))

	n, err := imap.DeleteCopies(context.Background(), boxFor(t, acct), []string{"INBOX", "Archive", "NoSuchFolder", "INBOX"},
		[]string{"a1@example.org", "<C2@example.org>", "absent@example.org", ""})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("deleted %d, want 3", n)
	}
	wantInbox := []string{"flagged-deleted", "keep-other", "keep-substring"}
	if !withUIDPlus {
		wantInbox = []string{"keep-other", "keep-substring"}
	}
	if got := subjects(t, acct, "INBOX"); !slices.Equal(got, wantInbox) {
		t.Errorf("INBOX = %v, want %v", got, wantInbox)
	}
	if got := subjects(t, acct, "Archive"); !slices.Equal(got, []string{"keep-archived"}) {
		t.Errorf("Archive = %v", got)
	}

	// Again: nothing left to delete.
	if n, err := imap.DeleteCopies(context.Background(), boxFor(t, acct), []string{"INBOX", "Archive"}, []string{"a1@example.org"}); n != 0 || err != nil {
		t.Errorf("second run: %d, %v", n, err)
	}
}

func TestDeleteCopies(t *testing.T) {
	t.Run("uidplus", func(t *testing.T) { testDeleteCopies(t, &mailtest.MemIMAP(t, nil).Account, true) })
	t.Run("expunge", func(t *testing.T) {
		testDeleteCopies(t, &mailtest.MemIMAP(t, goimap.CapSet{goimap.CapIMAP4rev1: {}}).Account, false)
	})
	t.Run("dovecot", func(t *testing.T) {
		d := mailtest.StartDovecot(t)
		testDeleteCopies(t, &mailtest.Account{Addr: d.Addr, Username: d.Username, Password: d.Password}, true)
	})
}

// TestDeleteCopiesManyIDs searches in chunks (OR-ed criteria) and finds each.
func TestDeleteCopiesManyIDs(t *testing.T) {
	acct := &mailtest.MemIMAP(t, nil).Account
	var ids []string
	for i := range 45 {
		id := fmt.Sprintf("m%d@example.org", i)
		acct.Append(t, "INBOX", eraseMail(id, "erase"))
		if i%2 == 0 {
			ids = append(ids, id)
		}
	}
	n, err := imap.DeleteCopies(context.Background(), boxFor(t, acct), []string{"INBOX"}, ids)
	if err != nil || n != len(ids) {
		t.Fatalf("deleted %d, %v; want %d", n, err, len(ids))
	}
	if left := len(acct.Folder(t, "INBOX")); left != 45-len(ids) {
		t.Errorf("%d mails left, want %d", left, 45-len(ids))
	}
}

func TestDeleteCopiesErrors(t *testing.T) {
	acct := &mailtest.MemIMAP(t, nil).Account
	box := boxFor(t, acct)
	box.Password = "wrong"
	if _, err := imap.DeleteCopies(context.Background(), box, []string{"INBOX"}, []string{"a@example.org"}); err == nil {
		t.Error("a refused login is no error")
	}
	// Nothing to look for: no connection at all.
	box.Host = "192.0.2.1"
	if n, err := imap.DeleteCopies(context.Background(), box, []string{"INBOX"}, nil); n != 0 || err != nil {
		t.Errorf("no ids: %d, %v", n, err)
	}
	// A cancelled context stops the work.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	box = boxFor(t, acct)
	if _, err := imap.DeleteCopies(ctx, box, []string{"INBOX"}, []string{"a@example.org"}); err == nil {
		t.Error("a cancelled context is no error")
	}
}
