package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Mail a trusted spam filter marked gets no acknowledgement, and tickets
// show says why; with action = "quarantine" quarantine list does.
func TestSpamReasonShown(t *testing.T) {
	for _, tc := range []struct{ action, cmd, want string }{
		{"ticket", "tickets show 1", "Ack:       suppressed: marked by the spam filter: spam (X-Spam-Flag: YES)"},
		{"quarantine", "quarantine list", "marked by the spam filter: spam (X-Spam-Flag: YES)"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, "127.0.0.1:1", "\n[spam]\ntrust = [\"x-spam-flag\"]\naction = \""+tc.action+"\"\n")
			mailFile := filepath.Join(dir, "spam.eml")
			os.WriteFile(mailFile, []byte("From: Bank <security@bank.example>\r\nSubject: Verify\r\nMessage-ID: <s1@bank.example>\r\n"+
				"X-Spam-Flag: YES\r\n\r\nClick here.\r\n"), 0o600)
			if out, errOut, code := ticketd(t, nil, "ingest", "-config", cfg, "-mailbox", "support", mailFile); code != 0 {
				t.Fatalf("ingest: exit %d %q %q", code, out, errOut)
			}
			args := append(strings.Fields(tc.cmd)[:1], "-config", cfg)
			args = append(args, strings.Fields(tc.cmd)[1:]...)
			out, errOut, code := ticketd(t, nil, args...)
			if code != 0 || !strings.Contains(out, tc.want) {
				t.Errorf("%s: exit %d\n%s%s\nwant %q", tc.cmd, code, out, errOut, tc.want)
			}
		})
	}
}
