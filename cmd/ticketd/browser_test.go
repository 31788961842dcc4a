package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/mail/mailtest"
	"ticketd/mail/mime"
	"ticketd/store"
)

// TestBrowserConsent runs ticketd end to end and uses the consent link of a
// real acknowledgement in headless Chromium, driven over the W3C WebDriver
// protocol: open the page, grant, reload (nothing is sent again), withdraw,
// then check the records in the store.
func TestBrowserConsent(t *testing.T) {
	chromium, driver := browserTools(t)
	imapSrv := mailtest.MemIMAP(t, nil)
	sink := mailtest.StartSMTPSink(t)
	dir := t.TempDir()
	httpAddr := freePort(t)
	cfg := writeBrowserConfig(t, dir, imapSrv.Addr, sink.Addr, httpAddr)
	d := startRun(t, cfg)
	// Mail in the mailbox before ticketd first reads it gets no
	// acknowledgement, so deliver once the mailbox is connected.
	mailtest.WaitFor(t, 20*time.Second, "the mailbox connected (/healthz 200)", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	imapSrv.Append(t, "INBOX", []byte("From: Erika Mustermann <erika@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: Feedback zum Drucker\r\nMessage-ID: <browser-1@example.org>\r\nContent-Language: de\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nDer neue Drucker ist zu laut.\r\n"))
	acks := sink.WaitMsgs(t, 1, 30*time.Second)
	ack, err := mime.Parse(bytes.NewReader(acks[0].Data), discardBlobs{}, mime.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`http://\S+/consent/\S+`).FindString(ack.Text)
	if !strings.HasPrefix(link, "http://"+httpAddr+"/consent/") {
		t.Fatalf("no consent link to %s in the acknowledgement:\n%s\n%s", httpAddr, ack.Text, d.log())
	}

	wd := startWebDriver(t, driver, chromium)
	wd.open(link)
	if title := wd.get("/title").(string); !strings.Contains(title, "Ihre Einwilligung") {
		t.Errorf("title %q", title)
	}
	grant := wd.find(`button[name="decision"][value="granted"]`)
	// The inline style sheet applies under the page's Content-Security-Policy.
	if bg := wd.get("/element/" + grant + "/css/background-color"); bg != "rgba(6, 69, 173, 1)" {
		t.Errorf("button background %v: the inline styles did not apply", bg)
	}
	wd.click(grant)
	first := wd.waitURL(t, "recorded=")
	if src := wd.source(); !strings.Contains(src, "Ihre Entscheidung ist gespeichert") || !strings.Contains(src, "Sie haben Ihre Einwilligung erteilt") {
		t.Fatalf("no confirmation after the grant:\n%s", src)
	}
	if n := len(consentRecords(t, cfg)); n != 1 {
		t.Fatalf("%d records after the grant, want 1", n)
	}
	// A reload shows the page again and records nothing.
	wd.post("/refresh", map[string]any{})
	if u := wd.get("/url").(string); u != first {
		t.Errorf("after the reload the browser is at %s, want %s", u, first)
	}
	if n := len(consentRecords(t, cfg)); n != 1 {
		t.Fatalf("%d records after the reload, want still 1", n)
	}
	wd.click(wd.find(`button[name="decision"][value="withdrawn"]`))
	mailtest.WaitFor(t, 20*time.Second, "the page after the withdrawal", func() bool {
		return wd.get("/url").(string) != first && strings.Contains(wd.source(), "Sie haben Ihre Einwilligung widerrufen")
	})
	wd.find(`button[name="decision"][value="granted"]`) // granting again is offered

	// Stop the daemon; the CLI then reads the file itself.
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	tks := listTickets(t, cfg)
	if len(tks) != 1 || tks[0].Ack == nil {
		t.Fatalf("tickets %+v", tks)
	}
	recs := consentRecords(t, cfg)
	if len(recs) != 2 || recs[0].Decision != "granted" || recs[1].Decision != "withdrawn" {
		t.Fatalf("records %+v, want granted then withdrawn", recs)
	}
	for _, r := range recs {
		if r.TokenID != tks[0].Ack.ConsentID || r.NoticeHash != tks[0].Ack.NoticeHash || r.Channel != "link" || r.Ticket != tks[0].Number {
			t.Errorf("record %+v; want the acknowledgement's token %s and notice hash %s", r, tks[0].Ack.ConsentID, tks[0].Ack.NoticeHash)
		}
	}
	out, _, code := ticketd(t, nil, "consent", "-config", cfg, "show", "erika@example.org")
	for _, want := range []string{"Purpose product_feedback (legal basis: consent), current: withdrawn", recs[0].At.Format(time.RFC3339),
		"granted", "withdrawn", tks[0].Ack.ConsentID, tks[0].Ack.NoticeHash} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("consent show: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}

// consentRecords runs ticketd consent show -json for the test's customer
// and returns the decisions about product_feedback.
func consentRecords(t *testing.T, cfg string) []*store.ConsentRecord {
	t.Helper()
	out, errOut, code := ticketd(t, nil, "consent", "-config", cfg, "show", "-json", "erika@example.org")
	if code != 0 {
		t.Fatalf("consent show: exit %d: %s", code, errOut)
	}
	var h desk.PersonConsents
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("consent show -json: %v\n%s", err, out)
	}
	var recs []*store.ConsentRecord
	for _, p := range h.Purposes {
		if p.Purpose != "product_feedback" {
			t.Errorf("a decision about %s", p.Purpose)
		}
		recs = append(recs, p.Records...)
	}
	return recs
}

// writeBrowserConfig writes writeConfig's configuration with the relay at
// smtpAddr, public_url on http_listen at httpAddr, and the queue's purpose
// one that rests on consent.
func writeBrowserConfig(t *testing.T, dir, imapAddr, smtpAddr, httpAddr string) string {
	t.Helper()
	path := writeConfig(t, dir, imapAddr, "")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(smtpAddr)
	cfg := string(b)
	for _, r := range []struct{ re, repl string }{
		{`(?m)^http_listen = .*$`, fmt.Sprintf("http_listen = %q\nlanguage = \"de\"", httpAddr)},
		{`(?m)^public_url = .*$`, fmt.Sprintf("public_url = \"http://%s\"", httpAddr)},
		{`(?m)^host = "127.0.0.1"\ntls = "none"\nfrom = `, fmt.Sprintf("host = %q\nport = %s\ntls = \"none\"\nfrom = ", host, port)},
		{`(?m)^purpose = "support"$`, `purpose = "product_feedback"`},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(cfg) {
			t.Fatalf("writeConfig's configuration has no %s", r.re)
		}
		cfg = re.ReplaceAllLiteralString(cfg, r.repl)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// browserTools finds Debian's chromium and chromedriver. Without them the
// test skips, except under make interop (TICKETD_INTEROP=1), where it fails.
func browserTools(t *testing.T) (chromium, driver string) {
	t.Helper()
	var missing []string
	for _, names := range [][]string{{"chromium", "chromium-browser"}, {"chromedriver"}} {
		var found string
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				found = p
				break
			}
		}
		if found == "" {
			missing = append(missing, names[0])
		}
		if names[0] == "chromium" {
			chromium = found
		} else {
			driver = found
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not installed (Debian packages chromium and chromium-driver; .ci/install-deps installs them)", strings.Join(missing, " and "))
		if mailtest.Interop() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return chromium, driver
}

// webDriver is a session of chromedriver, spoken to in W3C WebDriver.
type webDriver struct {
	t      *testing.T
	base   string // http://127.0.0.1:PORT/session/ID
	client *http.Client
}

// elementKey is the W3C name of an element reference in JSON.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

func startWebDriver(t *testing.T, driver, chromium string) *webDriver {
	t.Helper()
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	var logs bytes.Buffer
	cmd := exec.Command(driver, "--port="+port)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	root := "http://" + addr
	wd := &webDriver{t: t, client: &http.Client{Timeout: 60 * time.Second}}
	mailtest.WaitFor(t, 20*time.Second, "chromedriver ready", func() bool {
		resp, err := wd.client.Get(root + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--disable-background-networking", "--no-first-run", "--user-data-dir=" + t.TempDir()},
		},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	wd.base = root + "/session"
	raw := wd.do("POST", "", caps)
	if err := json.Unmarshal(raw, &created); err != nil || created.SessionID == "" {
		t.Fatalf("new session: %v %s", err, raw)
	}
	wd.base = root + "/session/" + created.SessionID
	t.Cleanup(func() { wd.do("DELETE", "", nil) })
	return wd
}

// do sends one command and returns its "value".
func (wd *webDriver) do(method, path string, body any) json.RawMessage {
	wd.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			wd.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, wd.base+path, r)
	if err != nil {
		wd.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := wd.client.Do(req)
	if err != nil {
		wd.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
		wd.t.Fatalf("webdriver %s %s: %s %s", method, path, resp.Status, b)
	}
	return out.Value
}

func (wd *webDriver) post(path string, body any) json.RawMessage { return wd.do("POST", path, body) }

func (wd *webDriver) get(path string) any {
	var v any
	json.Unmarshal(wd.do("GET", path, nil), &v)
	return v
}

func (wd *webDriver) open(url string) { wd.post("/url", map[string]string{"url": url}) }

func (wd *webDriver) source() string { return wd.get("/source").(string) }

// find returns the element matching a CSS selector (failing the test when there is none).
func (wd *webDriver) find(css string) string {
	wd.t.Helper()
	var el map[string]string
	raw := wd.post("/element", map[string]string{"using": "css selector", "value": css})
	if json.Unmarshal(raw, &el); el[elementKey] == "" {
		wd.t.Fatalf("no element %s (%s) on the page:\n%s", css, raw, wd.source())
	}
	return el[elementKey]
}

func (wd *webDriver) click(el string) { wd.post("/element/"+el+"/click", map[string]any{}) }

// waitURL waits until the browser's URL contains s and returns it.
func (wd *webDriver) waitURL(t *testing.T, s string) string {
	t.Helper()
	var u string
	mailtest.WaitFor(t, 20*time.Second, "the browser at a URL with "+s, func() bool {
		u = wd.get("/url").(string)
		return strings.Contains(u, s)
	})
	return u
}
