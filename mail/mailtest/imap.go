package mailtest

import (
	"bytes"
	"crypto/tls"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"ticketd/mail/imapmem"
	"ticketd/mail/oauth/oauthtest"
)

// Account is a login on an IMAP server, real or in-process.
type Account struct {
	Addr     string
	Username string
	Password string
}

// MemServer is an in-process IMAP server with one account.
type MemServer struct {
	Account
	// TLSAddr serves implicit TLS; Addr offers STARTTLS. CAFile is the PEM
	// of the self-signed certificate (localhost, 127.0.0.1) clients must trust.
	TLSAddr string
	CAFile  string
	User    *imapmemserver.User

	srv *imapmem.Server
}

// BearerOnly makes the server take only as's access tokens for the
// account's user, by OAUTHBEARER or XOAUTH2, and refuse LOGIN and PLAIN.
func (m *MemServer) BearerOnly(as *oauthtest.Server) {
	m.srv.SetAuthenticate(oauthtest.Mechanisms, as.SASL(m.Username, &imap.Error{Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeAuthenticationFailed, Text: "AUTHENTICATE failed"}))
}

// Deliver appends raw to folder on the server side, without a login (for
// a server that takes only bearer tokens), and returns its UID.
func (m *MemServer) Deliver(t testing.TB, folder string, raw []byte) uint32 {
	t.Helper()
	data, err := m.User.Append(folder, literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return uint32(data.UID)
}

// literal is an imap.LiteralReader.
type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

// Kick ends every open session with BYE, as a server does when the token a
// session logged in with expires.
func (m *MemServer) Kick(text string) { m.srv.Kick(text) }

// MemIMAP starts an imapmemserver on 127.0.0.1:0 with user "support" and the
// folders INBOX and Processed. caps nil means IMAP4rev1 + IMAP4rev2 (IDLE,
// MOVE, UIDPLUS); {IMAP4rev1} alone exercises the fallbacks.
func MemIMAP(t testing.TB, caps imap.CapSet) *MemServer {
	t.Helper()
	dir := t.TempDir()
	certPEM := srvWriteCert(t, dir)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv, err := imapmem.New("support", "secret", []string{"INBOX", "Processed"}, caps, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := tls.Listen("tcp", "127.0.0.1:0", tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(ln)
	srv.Serve(tln)
	t.Cleanup(func() { srv.Close() })
	caFile := filepath.Join(dir, "ca.pem")
	srvWriteFile(t, caFile, certPEM, 0o644)
	return &MemServer{Account: Account{Addr: ln.Addr().String(), Username: "support", Password: "secret"},
		TLSAddr: tln.Addr().String(), CAFile: caFile, User: srv.User, srv: srv}
}

// Client logs in; the connection is closed at cleanup.
func (a *Account) Client(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(a.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(a.Username, a.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Append stores raw in folder (with flags) and returns its UID.
func (a *Account) Append(t testing.TB, folder string, raw []byte, flags ...imap.Flag) uint32 {
	t.Helper()
	c := a.Client(t)
	defer c.Close()
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append to %s: %v", folder, err)
	}
	return uint32(data.UID)
}

// Create creates folder.
func (a *Account) Create(t testing.TB, folder string) {
	t.Helper()
	if err := a.Client(t).Create(folder, nil).Wait(); err != nil {
		t.Fatalf("create %s: %v", folder, err)
	}
}

// Delete deletes folder.
func (a *Account) Delete(t testing.TB, folder string) {
	t.Helper()
	if err := a.Client(t).Delete(folder).Wait(); err != nil {
		t.Fatalf("delete %s: %v", folder, err)
	}
}

// Mail is one message as a test sees it in a folder.
type Mail struct {
	UID   uint32
	Flags []imap.Flag
	Raw   []byte
}

// Seen reports whether the mail has \Seen.
func (m Mail) Seen() bool { return slices.Contains(m.Flags, imap.FlagSeen) }

// Folder lists the mails in folder (read-only, flags untouched).
func (a *Account) Folder(t testing.TB, folder string) []Mail {
	t.Helper()
	c := a.Client(t)
	defer c.Close()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("examine %s: %v", folder, err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", folder, err)
	}
	var out []Mail
	for _, m := range msgs {
		var raw []byte
		for _, b := range m.BodySection {
			raw = b.Bytes
		}
		out = append(out, Mail{UID: uint32(m.UID), Flags: m.Flags, Raw: raw})
	}
	return out
}

// WaitFor polls cond every 10ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
